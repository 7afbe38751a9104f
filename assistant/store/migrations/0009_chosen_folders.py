from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_web_accounts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Mailbox',
            name='archive_folder',
            field=fields.CharField(null=True, max_length=512),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='sent_folder',
            field=fields.CharField(null=True, max_length=512),
        ),
    ]
