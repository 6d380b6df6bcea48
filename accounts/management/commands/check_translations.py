"""`python manage.py check_translations`: exit 1 and list, per language, every message that has
no translation, a fuzzy one, or placeholders other than its source's."""

from django.core.management.base import BaseCommand, CommandError

from accounts import catalogs


class Command(BaseCommand):
    help = "Check that every launch language translates every message (missing, fuzzy, placeholders)."

    def handle(self, *args, **options):
        problems = catalogs.check_catalogs()
        if problems:
            self.stdout.write(catalogs.report(problems))
            raise CommandError(f"{sum(len(p.missing) + len(p.fuzzy) + len(p.placeholders) for p in problems.values())}"
                               " translation problems")
        self.stdout.write(self.style.SUCCESS("Every launch language has every message."))
