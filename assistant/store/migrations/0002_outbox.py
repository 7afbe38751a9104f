from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OutboxItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(unique=True, max_length=255)),
                ('kind', fields.CharField(max_length=32)),
                ('rule', fields.CharField(max_length=64)),
                ('thread_id', fields.CharField(max_length=512)),
                ('reply_to_message_id', fields.CharField(null=True, max_length=512)),
                ('recipient', fields.CharField(max_length=320)),
                ('message_id', fields.CharField(unique=True, max_length=512)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('promised_by', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('skip_rule', fields.CharField(null=True, max_length=64)),
                ('subject', fields.TextField(default='', unique=False)),
                ('text', fields.TextField(default='', unique=False)),
                ('html', fields.TextField(default='', unique=False)),
                ('template_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One automatic email, keyed by its idempotency key: written before it is sent.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Folder',
            name='first_uidnext',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='dry_run',
            # db_default: ADD COLUMN needs a DEFAULT on a table that already has rows.
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='paused_reason',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
