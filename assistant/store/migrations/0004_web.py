from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_people_ladder')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TemplateVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(db_index=True, max_length=32)),
                ('mailbox', fields.ForeignKeyField('models.Mailbox', source_field='mailbox_id', null=True, db_constraint=True, to_field='id', related_name='templates', on_delete=OnDelete.CASCADE)),
                ('subject', fields.TextField(unique=False)),
                ('text', fields.TextField(unique=False)),
                ('html', fields.TextField(unique=False)),
                ('author', fields.CharField(max_length=320)),
                ('note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'template_version', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One saved version of a mail template (subject, text, HTML) for a kind, optionally for'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=320)),
                ('password_hash', fields.TextField(unique=False)),
                ('role', fields.CharField(default='member', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'web_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Someone who logs in to the web page: an admin (templates, mailboxes) or a member.'},
            bases=['Model'],
        ),
    ]
