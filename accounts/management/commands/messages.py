"""`python manage.py messages` (or `make messages`): every message of the code into each launch
language's catalog under config/locale (new ones untranslated), then the catalogs compiled."""

from django.core.management.base import BaseCommand

from accounts import catalogs


class Command(BaseCommand):
    help = "Extract the messages into config/locale/<lang>/LC_MESSAGES/django.po and compile them."

    def handle(self, *args, **options):
        catalogs.update_catalogs()
        problems = catalogs.check_catalogs()
        if problems:
            self.stdout.write(catalogs.report(problems))
            self.stdout.write(self.style.WARNING("Translate the messages above, then run this again."))
        else:
            self.stdout.write(self.style.SUCCESS("Every launch language has every message."))
