"""Create (or reset) the demo admin account and print how to sign in.

For development and demos only: refuses to run in production.
"""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = "Create or reset the demo admin user and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@example.com")
        parser.add_argument("--password", default=None, help="Default: a new random password each run.")

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("ensure_demo_admin is for development; create staff with createsuperuser.")
        email = options["email"].lower()
        password = options["password"] or secrets.token_urlsafe(12)
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_superuser(email=email, password=password, handle="admin")
        else:
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        self.stdout.write(self.style.SUCCESS(f"Demo admin: email={email} password={password}"))
