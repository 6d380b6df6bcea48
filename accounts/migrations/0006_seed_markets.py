"""The launch markets, as a starting point staff edit in the admin (Accounts > Markets)."""

from django.db import migrations

STORES = ["stripe", "app_store", "google_play"]
# code, name, countries, languages (best first), currency, time zone, min sign-up age, teen age
MARKETS = [
    ("us", "United States", ["US"], ["en", "es"], "usd", "America/New_York", 13, 18),
    ("gb", "United Kingdom", ["GB"], ["en"], "gbp", "Europe/London", 13, 18),
    ("es", "Spain", ["ES"], ["es"], "eur", "Europe/Madrid", 14, 18),
    ("mx", "Mexico", ["MX"], ["es"], "mxn", "America/Mexico_City", 13, 18),
    ("br", "Brazil", ["BR"], ["pt-br"], "brl", "America/Sao_Paulo", 13, 18),
    ("in", "India", ["IN"], ["hi", "en"], "inr", "Asia/Kolkata", 13, 18),
    ("id", "Indonesia", ["ID"], ["id", "en"], "idr", "Asia/Jakarta", 13, 18),
    ("jp", "Japan", ["JP"], ["ja"], "jpy", "Asia/Tokyo", 13, 18),
    ("sg", "Singapore", ["SG"], ["en", "zh-hans"], "usd", "Asia/Singapore", 13, 18),
    ("gulf", "Gulf", ["SA", "AE"], ["ar", "en"], "usd", "Asia/Riyadh", 13, 18),
]


def seed(apps, schema_editor):
    Market = apps.get_model("accounts", "Market")
    User = apps.get_model("accounts", "User")
    for code, name, countries, languages, currency, tz, min_age, teen_age in MARKETS:
        market, _ = Market.objects.get_or_create(code=code, defaults={
            "name": name, "countries": countries, "languages": languages, "currency": currency,
            "time_zone": tz, "min_signup_age": min_age, "teen_age": teen_age, "stores": STORES,
        })
        User.objects.filter(country__in=market.countries, market__isnull=True).update(market=market)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_markets")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
