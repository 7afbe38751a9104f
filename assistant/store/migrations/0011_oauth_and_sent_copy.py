from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_mailbox_failing')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OAuthGrant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.OneToOneField('models.Mailbox', source_field='mailbox_id', db_constraint=True, to_field='id', related_name='oauth', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharField(max_length=64)),
                ('flow', fields.CharField(default='user', max_length=8)),
                ('sasl', fields.CharField(default='xoauth2', max_length=16)),
                ('issuer', fields.CharField(null=True, max_length=512)),
                ('token_endpoint', fields.TextField(unique=False)),
                ('authorization_endpoint', fields.TextField(null=True, unique=False)),
                ('device_endpoint', fields.TextField(null=True, unique=False)),
                ('revocation_endpoint', fields.TextField(null=True, unique=False)),
                ('client_id', fields.CharField(max_length=512)),
                ('client_secret', fields.TextField(null=True, unique=False)),
                ('scope', fields.TextField(unique=False)),
                ('refresh_secret', fields.TextField(null=True, unique=False)),
                ('access_secret', fields.TextField(null=True, unique=False)),
                ('access_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('needs_reauth_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('needs_reauth_reason', fields.TextField(null=True, unique=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_grant', 'app': 'models', 'pk_attr': 'id', 'table_description': "How a mailbox signs in by OAuth2: the provider's endpoints, the client, the tokens."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OAuthPending',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('state', fields.CharField(unique=True, max_length=128)),
                ('verifier', fields.TextField(unique=False)),
                ('provider', fields.CharField(max_length=64)),
                ('intent', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('user_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_pending', 'app': 'models', 'pk_attr': 'id', 'table_description': "A sign-in started on the web page, waiting for the provider's redirect back."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Mailbox',
            name='sent_copy',
            field=fields.CharField(default='auto', db_default='auto', max_length=8),
        ),
    ]
