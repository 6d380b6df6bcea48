"""Balances from before credit lots become one bonus lot each, so every available credit
belongs to a lot (spending takes from lots). Reservations still open then are released,
when they settle, into a new bonus lot (see ledger._release)."""

from django.db import migrations


def forwards(apps, schema_editor):
    CreditAccount = apps.get_model("billing", "CreditAccount")
    CreditLot = apps.get_model("billing", "CreditLot")
    lots = [
        CreditLot(user_id=account.user_id, kind="bonus", amount=account.available, remaining=account.available,
                  source="opening-balance")
        for account in CreditAccount.objects.filter(available__gt=0).iterator()
    ]
    CreditLot.objects.bulk_create(lots, batch_size=1000)


def backwards(apps, schema_editor):
    apps.get_model("billing", "CreditLot").objects.filter(source="opening-balance", grant_entry__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_plans_subscriptions_lots")]

    operations = [migrations.RunPython(forwards, backwards)]
