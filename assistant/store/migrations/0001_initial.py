from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Mailbox',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('address', fields.CharField(max_length=320)),
                ('imap_secret', fields.TextField(unique=False)),
                ('smtp_secret', fields.TextField(null=True, unique=False)),
                ('team', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('owner', fields.CharField(null=True, max_length=320)),
                ('grace_seconds', fields.IntField(default=120)),
                ('connected_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('history_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mailbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A connected shared mailbox.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Folder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='folders', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=512)),
                ('role', fields.CharField(default='other', max_length=16)),
                ('uidvalidity', fields.BigIntField(null=True)),
                ('uidnext', fields.BigIntField(null=True)),
                ('highestmodseq', fields.BigIntField(null=True)),
                ('last_uid', fields.BigIntField(default=0)),
                ('message_count', fields.IntField(default=0)),
                ('synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'folder', 'app': 'models', 'unique_together': (('mailbox', 'name'),), 'pk_attr': 'id', 'table_description': 'One IMAP folder of a mailbox and its sync cursor.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StoredMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('folder', fields.ForeignKeyField('models.Folder', source_field='folder_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('uid', fields.BigIntField()),
                ('message_id', fields.CharField(db_index=True, max_length=512)),
                ('synthetic_id', fields.BooleanField(default=False)),
                ('in_reply_to', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('references', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sender', fields.CharField(null=True, max_length=320)),
                ('sender_name', fields.CharField(default='', max_length=256)),
                ('to', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('cc', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reply_to', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('date', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('date_source', fields.CharField(max_length=16)),
                ('internaldate', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('subject', fields.TextField(default='', unique=False)),
                ('subject_key', fields.CharField(default='', db_index=True, max_length=255)),
                ('headers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('issues', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('flags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('modseq', fields.BigIntField(null=True)),
                ('machine_rule', fields.CharField(null=True, max_length=64)),
                ('thread_id', fields.CharField(null=True, db_index=True, max_length=512)),
            ],
            options={'table': 'message', 'app': 'models', 'unique_together': (('folder', 'uid'),), 'pk_attr': 'id', 'table_description': 'The header record of one message copy in one folder.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MessageRef',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='refs', on_delete=OnDelete.CASCADE)),
                ('message', fields.ForeignKeyField('models.StoredMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='refs', on_delete=OnDelete.CASCADE)),
                ('ref_id', fields.CharField(db_index=True, max_length=512)),
            ],
            options={'table': 'message_ref', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One Message-ID a stored message refers to: finds children that arrived first.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ThreadRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='threads', on_delete=OnDelete.CASCADE)),
                ('thread_id', fields.CharField(max_length=512)),
                ('subject', fields.TextField(default='', unique=False)),
                ('state', fields.CharField(max_length=32)),
                ('reason', fields.TextField(default='', unique=False)),
                ('waiting_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('client', fields.CharField(null=True, max_length=320)),
                ('last_message_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('message_count', fields.IntField(default=0)),
                ('owner', fields.CharField(null=True, max_length=320)),
                ('owner_rule', fields.CharField(null=True, max_length=32)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'thread', 'app': 'models', 'unique_together': (('mailbox', 'thread_id'),), 'pk_attr': 'id', 'table_description': "A thread's state as last evaluated by the core."},
            bases=['Model'],
        ),
    ]
