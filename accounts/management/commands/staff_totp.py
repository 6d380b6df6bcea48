"""Give a staff account a TOTP authenticator (the admin's second factor) and print its
otpauth:// URI, to scan or type into an authenticator app. Run again to replace it."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


class Command(BaseCommand):
    help = "Create (or replace) the TOTP device of a staff account and print its otpauth URI."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="authenticator")

    @transaction.atomic
    def handle(self, *args, **options):
        user = User.objects.filter(email__iexact=options["email"], is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError("No active staff account with that email.")
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)
        self.stdout.write(device.config_url)
