"""HTTP endpoints of billing. Views only parse, call a service or selector, and render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import error_body
from config.http import IDEMPOTENCY_HEADER, client_ip, idempotency_key, validated
from config.pagination import NewestFirstCursorPagination
from config.schema import errors

from . import quotas, selectors
from .serializers import (
    BalanceSerializer,
    CheckoutRequestSerializer,
    CheckoutSessionSerializer,
    CreditEntrySerializer,
    CreditsResponseSerializer,
    DailyQuotaSerializer,
    EntitlementsSerializer,
    PlanChangeResponseSerializer,
    PlanChangeSerializer,
    PlansResponseSerializer,
    SubscriptionResponseSerializer,
    StoreAccountTokenSerializer,
    StorePurchaseResponseSerializer,
    StoreSubscriptionSerializer,
    SubscriptionSerializer,
    UrlSerializer,
    AppleTransactionRequestSerializer,
    GooglePurchaseRequestSerializer,
)
from .services import apple, checkout, google, ledger, stores, webhooks
from .stripe_api import require_stripe


class _StripeRequired:
    """Endpoints that need Stripe answer 503 billing_not_configured without STRIPE_SECRET_KEY."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if hasattr(self, request.method.lower()):  # an unsupported method stays a 405
            require_stripe()


class PlansApi(_StripeRequired, APIView):
    """Plans (the free tier first) and credit packs, priced in the user's currency: the
    currency their Stripe customer already uses, else their country's, else USD."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[OpenApiParameter("country", str, description="ISO-2; for signed-out visitors")],
                   responses={200: PlansResponseSerializer,
                              502: errors("billing_unavailable"),
                              503: errors("billing_not_configured")}, tags=["billing"])
    def get(self, request: Request) -> Response:
        catalogue = selectors.plan_catalogue(user=request.user if request.user.is_authenticated else None,
                                             country=request.query_params.get("country", ""))
        return Response(PlansResponseSerializer(catalogue).data)


class CheckoutApi(_StripeRequired, APIView):
    """Buy a plan or a pack: a Stripe Checkout Session URL (201). A subscriber choosing another
    plan gets their subscription updated in place (200), never a second subscription."""

    @extend_schema(request=CheckoutRequestSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: CheckoutSessionSerializer,
                              200: PlanChangeResponseSerializer,
                              400: errors("plan_or_pack_required"),
                              402: errors("payment_failed"),
                              403: errors("billing_not_offered"),
                              404: errors("plan_not_found", "pack_not_found"),
                              409: errors("checkout_in_progress", "already_subscribed", "price_unavailable",
                                          "subscription_payment_due"),
                              502: errors("billing_unavailable"),
                              503: errors("billing_not_configured")}, tags=["billing"])
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(CheckoutRequestSerializer, request)
        result = checkout.checkout_start(user=request.user, plan_code=data.get("plan"), pack_code=data.get("pack"),
                                         idempotency_key=key)
        if result.checkout is None:
            return Response({"plan_change": PlanChangeSerializer(result.plan_change).data,
                             "subscription": SubscriptionSerializer(result.subscription).data})
        return Response(CheckoutSessionSerializer(result.checkout).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PortalApi(_StripeRequired, APIView):
    """A Stripe customer portal URL: payment method, invoices, cancel."""

    @extend_schema(request=None, responses={201: UrlSerializer,
                                            409: errors("no_billing_account"),
                                            502: errors("billing_unavailable"),
                                            503: errors("billing_not_configured")}, tags=["billing"])
    def post(self, request: Request) -> Response:
        return Response({"url": checkout.portal_session_create(user=request.user)}, status=status.HTTP_201_CREATED)


class SubscriptionApi(APIView):
    """Local state only: works without Stripe (then everyone is free)."""

    @extend_schema(responses={200: SubscriptionResponseSerializer}, tags=["billing"])
    def get(self, request: Request) -> Response:
        sub = selectors.current_subscription(user_id=request.user.pk)
        entitlements = selectors.user_entitlements(user_id=request.user.pk)
        quota = quotas.quota_status(user=request.user, limit=entitlements.daily_generations)
        return Response({
            "subscription": SubscriptionSerializer(sub).data if sub else None,
            "entitlements": EntitlementsSerializer(entitlements).data,
            "daily_quota": DailyQuotaSerializer(quota).data,
        })


class CreditsApi(APIView):
    """Balance by kind and the ledger, newest first, in cursor pages. Works without Stripe."""

    @extend_schema(parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
                   responses={200: CreditsResponseSerializer}, tags=["billing"])
    def get(self, request: Request) -> Response:
        # Written down first (the sign-up grant, expired lots), so the ledger below shows them.
        ledger.credits_expire_due(user_id=request.user.pk)
        balance = selectors.credit_balance(user_id=request.user.pk)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(selectors.credit_entries(user_id=request.user.pk), request, view=self)
        return Response({
            "balance": BalanceSerializer({
                "available": balance.available, "reserved": balance.reserved, "by_kind": balance.by_kind,
                "expiring": [{"amount": amount, "expires_at": at} for amount, at in balance.expiring],
            }).data,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": CreditEntrySerializer(page, many=True).data,
        })


class StripeWebhookApi(APIView):
    """Stripe calls this; the signature is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    # 500 `webhook_failed`: not handled this time, Stripe sends it again.
    @extend_schema(request=None, responses={200: None,
                                            400: errors("signature_missing", "signature_invalid", "payload_invalid"),
                                            500: errors("webhook_failed"), 503: errors("billing_not_configured")},
                   tags=["billing"])
    def post(self, request: Request) -> Response:
        # The raw bytes, exactly as signed: never the parsed body.
        result = webhooks.stripe_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature"),
            remote_addr=client_ip(request) or "",
        )
        if result.http_status == 200:
            return Response({"received": True, "outcome": result.outcome})
        return Response(error_body(result.code, result.message), status=result.http_status)


def _webhook_response(result: webhooks.WebhookResult) -> Response:
    if result.http_status == 200:
        return Response({"received": True, "outcome": result.outcome})
    return Response(error_body(result.code, result.message), status=result.http_status)


def _store_purchase_response(user_id: int, sub) -> Response:
    return Response({"subscription": StoreSubscriptionSerializer(sub).data,
                     "entitlements": EntitlementsSerializer(selectors.user_entitlements(user_id=user_id)).data})


class AppleNotificationApi(APIView):
    """App Store Server Notifications V2; Apple's signature (x5c chain) is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: None,
                                            400: errors("signature_invalid", "payload_invalid"),
                                            500: errors("webhook_failed"), 503: errors("billing_not_configured")},
                   tags=["billing"])
    def post(self, request: Request) -> Response:
        return _webhook_response(apple.apple_notification_receive(payload=request.body,
                                                                  remote_addr=client_ip(request) or ""))


class AppleTransactionApi(APIView):
    """The app posts a StoreKit 2 transaction (JWS) after a purchase or restore."""

    @extend_schema(request=AppleTransactionRequestSerializer,
                   responses={200: StorePurchaseResponseSerializer, 400: errors("transaction_invalid"),
                              409: errors("purchase_linked_to_another_account"),
                              503: errors("billing_not_configured")}, tags=["billing"])
    def post(self, request: Request) -> Response:
        data = validated(AppleTransactionRequestSerializer, request)
        sub = apple.apple_transaction_submit(user_id=request.user.pk, signed_transaction=data["signed_transaction"])
        return _store_purchase_response(request.user.pk, sub)


class GoogleNotificationApi(APIView):
    """Google Play real-time developer notifications, pushed by Pub/Sub with an OIDC token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: None,
                                            400: errors("signature_missing", "signature_invalid", "payload_invalid"),
                                            500: errors("webhook_failed"), 503: errors("billing_not_configured")},
                   tags=["billing"])
    def post(self, request: Request) -> Response:
        return _webhook_response(google.google_notification_receive(
            payload=request.body, authorization=request.headers.get("Authorization"),
            remote_addr=client_ip(request) or ""))


class GooglePurchaseApi(APIView):
    """The app posts the purchase token after buying a subscription in Google Play."""

    @extend_schema(request=GooglePurchaseRequestSerializer,
                   responses={200: StorePurchaseResponseSerializer, 400: errors("purchase_invalid"),
                              409: errors("purchase_linked_to_another_account"),
                              502: errors("billing_unavailable"), 503: errors("billing_not_configured")},
                   tags=["billing"])
    def post(self, request: Request) -> Response:
        data = validated(GooglePurchaseRequestSerializer, request)
        sub = google.google_purchase_submit(user_id=request.user.pk, purchase_token=data["purchase_token"])
        return _store_purchase_response(request.user.pk, sub)


class StoreAccountTokenApi(APIView):
    """The token the app sets on a store purchase (appAccountToken / obfuscatedExternalAccountId)
    so that the purchase is linked to this account."""

    @extend_schema(responses={200: StoreAccountTokenSerializer}, tags=["billing"])
    def get(self, request: Request) -> Response:
        return Response({"token": stores.store_account_token(user_id=request.user.pk)})
