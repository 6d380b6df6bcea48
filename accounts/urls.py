from django.urls import include, path

from . import apis, email_apis
from .exports import apis as export_apis
from .deletion import apis as deletion_apis
from .notifications import apis as notification_apis

urlpatterns = [
    path("", include("accounts.cameos.urls")),
    path("auth/signup", apis.SignupApi.as_view(), name="auth-signup"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/firebase", apis.FirebaseSignInApi.as_view(), name="auth-firebase"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-everywhere", apis.LogoutEverywhereApi.as_view(), name="auth-logout-everywhere"),
    path("auth/email/verify", email_apis.EmailVerifyApi.as_view(), name="auth-email-verify"),
    path("auth/password/reset", email_apis.PasswordResetApi.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm", email_apis.PasswordResetConfirmApi.as_view(),
         name="auth-password-reset-confirm"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/email", email_apis.EmailChangeApi.as_view(), name="me-email"),
    path("me/email/verification", email_apis.EmailVerificationResendApi.as_view(), name="me-email-verification"),
    path("me/password", apis.PasswordApi.as_view(), name="me-password"),
    path("me/delete", deletion_apis.DeletionRequestApi.as_view(), name="me-delete"),
    path("me/delete/cancel", deletion_apis.DeletionCancelApi.as_view(), name="me-delete-cancel"),
    path("me/devices", apis.DevicesApi.as_view(), name="me-devices"),
    path("me/export", export_apis.AccountExportApi.as_view(), name="me-export"),
    path("me/export/download/<signed_token:token>", export_apis.AccountExportDownloadApi.as_view(),
         name="me-export-download"),
    path("me/notification-settings", notification_apis.NotificationSettingsApi.as_view(),
         name="notification-settings"),
    path("events", apis.EventsApi.as_view(), name="events"),
    path("notifications", notification_apis.NotificationsApi.as_view(), name="notifications"),
    path("notifications/unread_count", notification_apis.UnreadCountApi.as_view(), name="notifications-unread"),
    path("notifications/read", notification_apis.MarkReadApi.as_view(), name="notifications-read"),
    path("notifications/<group_key:group_key>/dismiss", notification_apis.DismissApi.as_view(),
         name="notifications-dismiss"),
    path("users/<handle:handle>", apis.ProfileApi.as_view(), name="user-profile"),
    path("users/<handle:handle>/follow", apis.FollowApi.as_view(), name="user-follow"),
    path("users/<handle:handle>/block", apis.BlockApi.as_view(), name="user-block"),
    path("users/<handle:handle>/followers", apis.FollowersApi.as_view(), name="user-followers"),
    path("users/<handle:handle>/following", apis.FollowingApi.as_view(), name="user-following"),
]
