from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

HANDLE_REGEX = r"^[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28})[A-Za-z0-9_]$"
handle_validator = RegexValidator(
    HANDLE_REGEX,
    message=_("3-30 letters, digits, '_' or '.', not starting or ending with '.'."),
    code="handle_invalid",
)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str | None, password: str | None, **extra) -> "User":
        user = self.model(email=self.normalize_email(email).lower() if email else None, **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str | None = None, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        extra.setdefault("handle", email.split("@")[0][:30])
        return self._create(email, password, **extra)

    def get_by_natural_key(self, email: str | None) -> "User":
        # Password sign-in (ModelBackend) finds the account as emails are unique: ignoring case.
        if not email:  # iexact=None would match the accounts that have no email
            raise self.model.DoesNotExist
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person using the app. Signs in by email + password or by Firebase."""

    # Null for Firebase accounts without an email (phone sign-in); NULLs never collide.
    email = models.EmailField(unique=True, blank=True, null=True)
    handle = models.CharField(max_length=30, validators=[handle_validator])
    display_name = models.CharField(max_length=60, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    bio = models.CharField(max_length=280, blank=True)
    locale = models.CharField(max_length=16, blank=True, help_text="BCP 47 tag, e.g. en-US")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2, e.g. US")
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set from `country` at sign-up (the client's country hint); changeable with it.
    market = models.ForeignKey("Market", on_delete=models.SET_NULL, null=True, blank=True, related_name="users")
    # The user's own daily feed time limit in minutes; null: the default for their age
    # (accounts.selectors.user_daily_feed_minutes).
    daily_feed_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    firebase_uid = models.CharField(max_length=128, unique=True, null=True, blank=True)
    # Whether someone proved they read this address (today: Firebase vouched for it). A
    # sign-in that proves it takes an account whose address nobody proved (see services).
    email_verified = models.BooleanField(default=False, db_default=False)
    # Carried by every token as the `ver` claim; a bump ends every access token at once
    # (checked against this row, which authentication loads anyway).
    session_version = models.PositiveIntegerField(default=0, db_default=0)

    # Denormalised, kept exact by accounts.services (F() updates in the follow transaction).
    followers_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)

    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["handle"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="accounts_user_handle_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_edges")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_edges")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="accounts_follow_unique"),
            models.CheckConstraint(condition=~models.Q(follower=models.F("followee")), name="accounts_follow_not_self"),
        ]
        indexes = [
            models.Index(fields=["followee", "-created_at", "-id"], name="accounts_follow_followers"),
            models.Index(fields=["follower", "-created_at", "-id"], name="accounts_follow_following"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} -> {self.followee_id}"


class Block(models.Model):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="accounts_block_unique"),
            models.CheckConstraint(condition=~models.Q(blocker=models.F("blocked")), name="accounts_block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} x {self.blocked_id}"


class AuthSession(models.Model):
    """One sign-in on one device: the family of refresh tokens that rotation hands down.

    Its tokens carry its id (`sid`). Only the newest refresh token of a family is live:
    an older one presented again was copied, so the whole family ends (RFC 9700, 4.14.2).
    """

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "Logged out"
        LOGOUT_ALL = "logout_all", "Logged out everywhere"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        REFRESH_REUSED = "refresh_reused", "Rotated refresh token reused"
        SUSPENDED = "suspended", "Account suspended"
        ACCOUNT_CLAIMED = "account_claimed", "Email owner signed in"
        STAFF = "staff", "Ended by staff"
        ACCOUNT_DELETED = "account_deleted", "Account deletion requested"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    refresh_jti = models.CharField(max_length=255, help_text="jti of the family's one live refresh token")
    created_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"


class Device(models.Model):
    """A phone that receives FCM push. The FCM token is the identity of an install."""

    class Platform(models.TextChoices):
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"
        WEB = "web", "Web"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    fcm_token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    app_version = models.CharField(max_length=32, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # The sign-in that registered it: another account may take the token only once it ended.
    session = models.ForeignKey(AuthSession, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="devices")

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user_id}"


class EventCounter(models.Model):
    """The last sequence number given to an event of a user (accounts.events): one row per
    user, bumped by one UPDATE ... RETURNING under its row lock, so numbers only grow."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.BigIntegerField(default=0)


class Event(models.Model):
    """One realtime event of a user, kept EVENTS_RETENTION_SECONDS for resume (and the base a
    notifications inbox can group). `data` is the frame's body next to `type` and `seq`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="event_user_seq_unique")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} of {self.user_id}"


class Notification(models.Model):
    """One thing that happened to a user (accounts.notifications): stored as type + data, never
    as a sentence; the inbox groups rows by `group_key` and renders the text when it is read,
    in the reader's language."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    type = models.CharField(max_length=64)
    group_key = models.CharField(max_length=160)
    # Who caused it (None: the service did: a finished video, a reward).
    actor = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # What it is about ("post:12") and the exact thing that made it ("comment:55"): deleting
    # either deletes the notification.
    target = models.CharField(max_length=64, blank=True, db_index=True)
    subject = models.CharField(max_length=64, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    # False: the user wants this type as push only; kept for the push, hidden from the inbox.
    inbox = models.BooleanField(default=True)
    # The same actor doing the same thing again (like, unlike, like) is one notification.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "dedupe_key"], name="notification_dedupe_unique")]
        indexes = [
            models.Index(fields=["user", "-id"], name="notification_user_recent"),
            models.Index(fields=["user", "group_key", "-id"], name="notification_user_group"),
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.user_id}"


class NotificationMarker(models.Model):
    """How far the user has read the inbox: every notification with a larger id is unread."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_read_id = models.BigIntegerField(default=0)


class NotificationSetting(models.Model):
    """A user's choice for one notification type; types without a row use the type's default."""

    class Channel(models.TextChoices):
        BOTH = "both", "In the app and as push"
        IN_APP = "in_app", "In the app only"
        PUSH = "push", "Push only"
        OFF = "off", "Off"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_settings")
    type = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "type"], name="notification_setting_unique")]


class PushAlert(models.Model):
    """An FCM auth/config failure (a broken APNs key, bad credentials), counted for staff: kept
    in the database so what a worker saw shows in the admin that another process serves."""

    code = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    detail = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.code} x{self.count}"
class Market(models.Model):
    """A country or group of countries the app is sold in: staff edit these in the admin.

    Everything that differs per market reads it: the response language when the user set
    none (its first language), billing (currency, whether it is offered and through which
    stores), sign-up age rules, blocked prompt terms, the feed's regional boost and campaign
    targeting. Lists are JSON so SQLite (the embedded default) stores them too; the admin
    picks their values from lists (accounts.market_admin)."""

    class Store(models.TextChoices):
        STRIPE = "stripe", _("Web (Stripe)")
        APP_STORE = "app_store", _("App Store")
        GOOGLE_PLAY = "google_play", _("Google Play")

    code = models.SlugField(max_length=16, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=80, verbose_name=_("name"))
    countries = models.JSONField(default=list, blank=True, verbose_name=_("countries"),
                                 help_text=_("ISO 3166-1 alpha-2 codes; a country belongs to one market."))
    languages = models.JSONField(default=list, blank=True, verbose_name=_("languages"),
                                 help_text=_("Language codes of settings.LANGUAGES, best first."))
    currency = models.CharField(max_length=3, default="usd", verbose_name=_("currency"),
                                help_text=_("Lowercase ISO 4217 code, e.g. inr."))
    time_zone = models.CharField(max_length=64, default="UTC", verbose_name=_("time zone"))
    min_signup_age = models.PositiveSmallIntegerField(default=13, verbose_name=_("minimum sign-up age"))
    teen_age = models.PositiveSmallIntegerField(default=18, verbose_name=_("teen protections under"))
    blocked_terms = models.TextField(blank=True, verbose_name=_("blocked prompt terms"),
                                     help_text=_("One term a line, refused in prompts of users of this market."))
    region_boost = models.FloatField(default=0.25, verbose_name=_("feed regional boost"),
                                     help_text=_("Added to the for-you boost of posts from the viewer's country."))
    billing_offered = models.BooleanField(default=True, verbose_name=_("billing offered"))
    stores = models.JSONField(default=list, blank=True, verbose_name=_("stores"))

    class Meta:
        ordering = ("code",)
        verbose_name = _("market")
        verbose_name_plural = _("markets")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def blocked_term_list(self) -> list[str]:
        return [line.strip() for line in self.blocked_terms.splitlines() if line.strip()]


class AccountDeletion(models.Model):
    """A deletion the account's owner asked for (accounts.deletion): the account is deactivated
    at once and purged by the beat task once `purge_after` has passed, unless its owner cancels
    before. After the purge the row names nobody: `user` is gone (null) and `placeholder` is the
    anonymous user the kept payment and ledger rows point at instead."""

    user = models.OneToOneField(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="deletion")
    requested_at = models.DateTimeField(default=timezone.now)
    purge_after = models.DateTimeField(db_index=True)
    # What the apps did at the request, for their cancel (e.g. Stripe subscriptions set to end).
    state = models.JSONField(default=dict, blank=True)
    # The purge steps finished so far: a purge that crashed resumes after the last one.
    steps_done = models.JSONField(default=list, blank=True)
    # Why the last run waited (a payout in flight, a running job, a Stripe cancel unconfirmed).
    hold_reason = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # A purge run holds the row until then: two beat runs never purge one account at once.
    claimed_until = models.DateTimeField(null=True, blank=True)
    placeholder = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("account deletion")
        verbose_name_plural = _("account deletions")

    def __str__(self) -> str:
        return f"deletion {self.pk} ({'purged' if self.purged_at else 'pending'})"


class HandleReservation(models.Model):
    """A purged account's handle, kept from everyone (sign-up, renames) until `reserved_until`:
    nobody may pass as the person who left."""

    handle = models.CharField(max_length=30)
    reserved_until = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(Lower("handle"), name="accounts_handle_reservation_ci_unique")]

    def __str__(self) -> str:
        return f"@{self.handle} until {self.reserved_until:%Y-%m-%d}"


# Cameos live in their own package (accounts.cameos) and register here, in accounts: every app
# that uses a likeness (generation, feed) sits above accounts and may point at it.
from .cameos.models import Cameo, CameoChallenge, CameoGrant  # noqa: E402,F401

# The account export's row lives with its package (accounts.exports).
from .exports.models import AccountExport  # noqa: E402,F401
