from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_chosen_folders')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Mailbox',
            name='failing_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Mailbox',
            name='failing_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
