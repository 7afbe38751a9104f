from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_web')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SenderPause',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='sender_pauses', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=320)),
                ('rule', fields.CharField(max_length=64)),
                ('reason', fields.TextField(default='', unique=False)),
                ('paused_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sender_pause', 'app': 'models', 'unique_together': (('mailbox', 'address'),), 'pk_attr': 'id', 'table_description': 'No automatic mail to ``address`` (a client, or ``@domain``) of a mailbox until'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Folder',
            name='first_uidvalidity',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='revision',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='unplanned',
            field=fields.BooleanField(default=False, db_index=True, db_default=False),
        ),
    ]
