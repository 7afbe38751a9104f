from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Columns added to existing tables are nullable or carry a db_default: SQLite refuses to add
# a NOT NULL column without a DEFAULT to a table that has rows.
class Migration(migrations.Migration):
    dependencies = [('models', '0002_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Person',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=320)),
                ('name', fields.CharField(default='', max_length=256)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('working_days', fields.CharField(default='Mon-Fri', max_length=64)),
                ('digest_at', fields.CharField(default='08:30', max_length=5)),
                ('backup', fields.CharField(null=True, max_length=320)),
                ('away', fields.BooleanField(default=False)),
                ('lead', fields.BooleanField(default=False)),
                ('digest_paused', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'person', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A team member: owns threads, receives reminders and a daily digest.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ThreadEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('thread_id', fields.CharField(db_index=True, max_length=512)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharField(max_length=32)),
                ('rule', fields.CharField(default='', max_length=64)),
                ('actor', fields.CharField(default='followup', max_length=320)),
                ('detail', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'thread_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One line of a thread's timeline: owner changes, state changes, mail sent, commands."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Mailbox',
            name='rotation_at',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='OutboxItem',
            name='payload',
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='assigned_to',
            field=fields.CharField(null=True, max_length=320),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='first_response_s',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ThreadRecord',
            name='snoozed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
