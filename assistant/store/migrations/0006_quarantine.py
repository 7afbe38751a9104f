from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_loop_plan')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Quarantine',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='quarantined', on_delete=OnDelete.CASCADE)),
                ('folder', fields.CharField(max_length=512)),
                ('uid', fields.BigIntField()),
                ('stage', fields.CharField(max_length=16)),
                ('error', fields.TextField(unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'quarantine', 'app': 'models', 'unique_together': (('mailbox', 'folder', 'uid', 'stage'),), 'pk_attr': 'id', 'table_description': 'A message that could not be handled at ``stage`` (parse, store, thread, plan), with'},
            bases=['Model'],
        ),
    ]
