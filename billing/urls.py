from django.urls import path

from . import apis

urlpatterns = [
    path("billing/plans", apis.PlansApi.as_view(), name="billing-plans"),
    path("billing/checkout", apis.CheckoutApi.as_view(), name="billing-checkout"),
    path("billing/portal", apis.PortalApi.as_view(), name="billing-portal"),
    path("billing/subscription", apis.SubscriptionApi.as_view(), name="billing-subscription"),
    path("billing/credits", apis.CreditsApi.as_view(), name="billing-credits"),
    path("billing/stripe/webhook", apis.StripeWebhookApi.as_view(), name="billing-stripe-webhook"),
    path("billing/apple/notifications", apis.AppleNotificationApi.as_view(), name="billing-apple-notifications"),
    path("billing/apple/transactions", apis.AppleTransactionApi.as_view(), name="billing-apple-transactions"),
    path("billing/google/notifications", apis.GoogleNotificationApi.as_view(), name="billing-google-notifications"),
    path("billing/google/purchases", apis.GooglePurchaseApi.as_view(), name="billing-google-purchases"),
    path("billing/store-account-token", apis.StoreAccountTokenApi.as_view(), name="billing-store-account-token"),
]
