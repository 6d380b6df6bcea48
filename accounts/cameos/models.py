"""Cameos: a person's verified likeness, and who may use it. Imported by accounts.models so
Django registers them in the accounts app (the lowest app every other one may point at)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CameoLevel(models.TextChoices):
    ONLY_ME = "only_me", _("Only me")
    APPROVED = "approved", _("People I approve")
    MUTUALS = "mutuals", _("Mutuals")
    EVERYONE = "everyone", _("Everyone")


class CameoStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the checker")
    REVIEW = "review", _("Waiting for staff review")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")
    DELETED = "deleted", _("Deleted (media purged later)")


def _clip_path(cameo: "Cameo", filename: str) -> str:
    return f"cameos/{cameo.owner_id}/{cameo.id}/clip.mp4"


def _reference_path(cameo: "Cameo", filename: str) -> str:
    return f"cameos/{cameo.owner_id}/{cameo.id}/reference.jpg"


class CameoChallenge(models.Model):
    """What the server asked a person to say in their verification clip. Used once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    phrase = models.CharField(max_length=120)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class Cameo(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cameos")
    # How prompts name this person; the prompt policy lets a protected name through only with it.
    name = models.CharField(max_length=60)
    level = models.CharField(max_length=10, choices=CameoLevel.choices, default=CameoLevel.ONLY_ME)
    restrictions = models.CharField(max_length=500, blank=True,
                                    help_text="The owner's own rules, passed to the prompt policy and the backend.")
    status = models.CharField(max_length=10, choices=CameoStatus.choices, default=CameoStatus.PENDING)
    challenge = models.ForeignKey(CameoChallenge, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    clip = models.FileField(upload_to=_clip_path, blank=True, max_length=255)
    reference_image = models.FileField(upload_to=_reference_path, blank=True, max_length=255)
    clip_duration = models.FloatField(null=True, blank=True)
    clip_codec = models.CharField(max_length=20, blank=True)
    verifier = models.CharField(max_length=20, blank=True)
    transcript = models.CharField(max_length=300, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One live likeness per person.
            models.UniqueConstraint(fields=["owner"], condition=~models.Q(status="deleted"),
                                    name="accounts_cameo_one_live_per_owner"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="accounts_cameo_queue")]

    def __str__(self) -> str:
        return f"cameo {self.name} of {self.owner_id} ({self.status})"

    @property
    def usable(self) -> bool:
        return self.status == CameoStatus.VERIFIED


class GrantStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")
    REVOKED = "revoked", _("Revoked")


class CameoGrant(models.Model):
    """One person's standing with one cameo: asked, approved, denied, or revoked. A denial or a
    revocation is the owner's word about that person and holds at every level."""

    cameo = models.ForeignKey(Cameo, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cameo_grants")
    status = models.CharField(max_length=10, choices=GrantStatus.choices, default=GrantStatus.REQUESTED)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cameo", "user"], name="accounts_cameogrant_unique")]
