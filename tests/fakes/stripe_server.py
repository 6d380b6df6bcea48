"""A small, stateful fake of Stripe's API, over real HTTP on 127.0.0.1.

The billing code talks to it through the real `stripe` library (STRIPE_API_BASE),
so requests are form-encoded exactly as the library sends them to Stripe, and the
answers have the shapes of API version 2025-08-27.basil (the one stripe 12.5 pins):
the period on the subscription item, the invoice's subscription under
`parent.subscription_details`, line prices under `pricing.price_details`.

Why not localstripe: it has no Checkout Sessions, no customer portal, no Price
objects and no Idempotency-Key handling, and it answers with pre-basil shapes.

    POST   /v1/customers                          GET /v1/customers/{id}
    POST   /v1/checkout/sessions                  GET /v1/checkout/sessions/{id}
    GET    /v1/checkout/sessions?payment_intent=  POST /v1/checkout/sessions/{id}/expire
    POST   /v1/billing_portal/sessions
    GET    /v1/subscriptions/{id}                 POST /v1/subscriptions/{id} (update)
    DELETE /v1/subscriptions/{id} (cancel now)
    GET    /v1/invoice_payments?payment[payment_intent]=  (the invoice a payment paid)
    GET    /v1/invoices/{id}  /v1/charges/{id}  /v1/payment_intents/{id}  /v1/prices/{id}
    POST   /v1/refunds
    POST   /v1/accounts (Connect Express)             GET /v1/accounts/{id}
    POST   /v1/account_links (onboarding)
    POST   /v1/transfers (to a connected account)     GET /v1/transfers/{id}

`Authorization: Bearer <api_key>` is required (401 otherwise). A POST with an
`Idempotency-Key` seen before answers the first answer again (header
`Idempotent-Replayed: true`), or a 400 `idempotency_error` if the parameters differ.
Errors have Stripe's `{"error": {"type", "code", "message", "param"}}` shape.

What Stripe does on its side (the customer paying, renewals, refunds from the
dashboard) are Python methods that change the state and append the events Stripe
would send, with the object as it was at that moment (`data.object` is a snapshot):
`complete_checkout`, `expire_session`, `renew`, `pay_invoice`, `schedule_cancel`,
`cancel`, `refund`, `decline_cards`, and for Connect `complete_onboarding` (the
creator finishes Stripe's onboarding: transfers become possible). `sign()` signs a
payload the way Stripe does
(`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">`).

`clock` (epoch seconds) backdates what happens next, like Stripe's test clocks.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from .server import FakeHandler, serve_fake

API_VERSION = "2025-08-27.basil"
API_KEY = "sk_test_fake_" + "0" * 24
WEBHOOK_SECRET = "whsec_fake_" + "1" * 32
PERIOD = 30 * 86400  # a "month"


def sign(payload: bytes | str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for `payload`."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """`line_items[0][price]=p&metadata[k]=v` -> {"line_items": [{"price": "p"}], "metadata": {"k": "v"}}."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: listify(v) for k, v in value.items()}
            if value and all(k.isdigit() for k in value):
                return [value[k] for k in sorted(value, key=int)]
        return value

    return listify(root)


class StripeFakeError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, "code": code, "param": param, **extra}}


def _missing(kind: str, oid: str, param: str = "id") -> StripeFakeError:
    return StripeFakeError(404, "invalid_request_error", f"No such {kind}: '{oid}'", code="resource_missing",
                           param=param)


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    status: int = 0


@dataclass
class FakeStripe:
    url: str = ""
    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    clock: int | None = None
    objects: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    declining: set[str] = field(default_factory=set)  # customer ids whose card is declined
    _idempotency: dict[str, tuple[str, int, dict]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- bookkeeping ------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.clock = None
            self.objects.clear()
            self.events.clear()
            self.requests.clear()
            self.declining.clear()
            self._idempotency.clear()

    def now(self) -> int:
        return int(time.time()) if self.clock is None else int(self.clock)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(8)}"

    def get(self, oid: str) -> dict:
        return self.objects[oid]

    def _emit(self, type_: str, obj: dict, previous: dict | None = None) -> dict:
        event = {
            "id": self._id("evt"), "object": "event", "api_version": API_VERSION, "created": self.now(),
            "data": {"object": copy.deepcopy(obj), **({"previous_attributes": previous} if previous else {})},
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self.events.append(event)
        return event

    def events_of(self, type_: str, object_id: str | None = None) -> list[dict]:
        return [e for e in self.events
                if e["type"] == type_ and (object_id is None or e["data"]["object"].get("id") == object_id)]

    def posts(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    # --- catalogue (set up by tests, like the dashboard) -------------------------------

    def create_price(self, *, currency: str, unit_amount: int, recurring: bool = True, name: str = "Product") -> str:
        with self._lock:
            product = {"id": self._id("prod"), "object": "product", "name": name, "active": True,
                       "created": self.now(), "livemode": False, "metadata": {}}
            price = {
                "id": self._id("price"), "object": "price", "active": True, "currency": currency,
                "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount), "product": product["id"],
                "type": "recurring" if recurring else "one_time", "billing_scheme": "per_unit",
                "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"} if recurring
                else None,
                "created": self.now(), "livemode": False, "metadata": {}, "lookup_key": None,
            }
            self.objects[product["id"]] = product
            self.objects[price["id"]] = price
            return price["id"]

    # --- objects ------------------------------------------------------------------------

    def _customer(self, params: dict) -> dict:
        customer = {
            "id": self._id("cus"), "object": "customer", "email": params.get("email") or None,
            "name": params.get("name") or None, "metadata": params.get("metadata") or {}, "created": self.now(),
            "currency": None, "livemode": False, "balance": 0, "delinquent": False,
            "invoice_settings": {"default_payment_method": None},
        }
        self.objects[customer["id"]] = customer
        self._emit("customer.created", customer)
        return customer

    def _checkout_session(self, params: dict) -> dict:
        customer = params.get("customer")
        if customer not in self.objects:
            raise _missing("customer", customer, "customer")
        line_items = params.get("line_items") or []
        if len(line_items) != 1:
            raise StripeFakeError(400, "invalid_request_error", "This fake takes exactly one line item.",
                                  param="line_items")
        price = self.objects.get(line_items[0].get("price"))
        if price is None:
            raise _missing("price", line_items[0].get("price"), "line_items[0][price]")
        mode = params.get("mode")
        if (mode == "subscription") != (price["type"] == "recurring"):
            raise StripeFakeError(400, "invalid_request_error",
                                  f"You must use a {'recurring' if mode == 'subscription' else 'one-time'} price "
                                  f"in `{mode}` mode.", param="line_items[0][price]")
        expires_at = int(params.get("expires_at") or self.now() + 86400)
        if not (self.now() + 1800 - 5 <= expires_at <= self.now() + 86400):
            raise StripeFakeError(400, "invalid_request_error",
                                  "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                                  param="expires_at")
        sid = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": sid, "object": "checkout.session", "mode": mode, "customer": customer,
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "status": "open", "payment_status": "unpaid", "url": f"https://checkout.stripe.com/c/pay/{sid}",
            "expires_at": expires_at, "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"), "subscription": None, "payment_intent": None, "invoice": None,
            "currency": price["currency"], "amount_total": price["unit_amount"],
            "amount_subtotal": price["unit_amount"], "created": self.now(), "livemode": False,
            "subscription_data": params.get("subscription_data") or {},
            "payment_intent_data": params.get("payment_intent_data") or {},
            "_price": price["id"],
        }
        self.objects[sid] = session
        return session

    def _portal_session(self, params: dict) -> dict:
        customer = params.get("customer")
        if customer not in self.objects:
            raise _missing("customer", customer, "customer")
        pid = self._id("bps")
        session = {"id": pid, "object": "billing_portal.session", "customer": customer,
                   "return_url": params.get("return_url"), "url": f"https://billing.stripe.com/p/session/{pid}",
                   "created": self.now(), "livemode": False, "configuration": "bpc_default"}
        self.objects[pid] = session
        return session

    def _payment(self, customer: str, amount: int, currency: str, metadata: dict | None = None,
                 description: str = "") -> tuple[dict, dict]:
        intent = {"id": self._id("pi"), "object": "payment_intent", "amount": amount, "currency": currency,
                  "customer": customer, "status": "succeeded", "metadata": metadata or {}, "created": self.now(),
                  "latest_charge": None, "livemode": False, "description": description or None}
        charge = {"id": self._id("ch"), "object": "charge", "amount": amount, "amount_captured": amount,
                  "amount_refunded": 0, "refunded": False, "captured": True, "paid": True, "status": "succeeded",
                  "currency": currency, "customer": customer, "payment_intent": intent["id"],
                  "metadata": metadata or {}, "created": self.now(), "livemode": False,
                  "refunds": {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}}
        intent["latest_charge"] = charge["id"]
        self.objects[intent["id"]] = intent
        self.objects[charge["id"]] = charge
        return intent, charge

    def _line(self, sub: dict, price: dict, amount: int, start: int, end: int, *, proration: bool,
              description: str) -> dict:
        return {
            "id": self._id("il"), "object": "line_item", "amount": amount, "currency": price["currency"],
            "description": description, "period": {"start": start, "end": end}, "quantity": 1,
            "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                        "unit_amount_decimal": str(price["unit_amount"])},
            "parent": {"type": "subscription_item_details",
                       "subscription_item_details": {"subscription": sub["id"],
                                                     "subscription_item": sub["items"]["data"][0]["id"],
                                                     "proration": proration, "invoice_item": None}},
            "livemode": False, "metadata": {},
        }

    def _invoice(self, sub: dict, reason: str, lines: list[dict]) -> dict:
        total = sum(line["amount"] for line in lines)
        invoice = {
            "id": self._id("in"), "object": "invoice", "customer": sub["customer"], "status": "open",
            "billing_reason": reason, "currency": sub["currency"], "amount_due": max(total, 0), "amount_paid": 0,
            "amount_remaining": max(total, 0), "total": total, "subtotal": total, "attempt_count": 0,
            "attempted": False, "created": self.now(),
            "period_start": lines[0]["period"]["start"], "period_end": lines[0]["period"]["end"],
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"subscription": sub["id"], "metadata": dict(sub["metadata"])}},
            "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                      "url": "/v1/invoices/lines"},
            "status_transitions": {"finalized_at": self.now(), "paid_at": None, "voided_at": None,
                                   "marked_uncollectible_at": None},
            "hosted_invoice_url": "https://invoice.stripe.com/i/fake", "livemode": False, "metadata": {},
            "payments": {"object": "list", "data": [], "has_more": False},
        }
        self.objects[invoice["id"]] = invoice
        sub["latest_invoice"] = invoice["id"]
        self._emit("invoice.created", invoice)
        self._emit("invoice.finalized", invoice)
        return invoice

    def _collect(self, invoice: dict) -> bool:
        """Charge an invoice. True when paid; events as Stripe sends them."""
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if invoice["customer"] in self.declining and invoice["amount_due"] > 0:
            self._emit("invoice.payment_failed", invoice)
            return False
        if invoice["amount_due"] > 0:
            intent, charge = self._payment(invoice["customer"], invoice["amount_due"], invoice["currency"],
                                           description=f"Invoice {invoice['id']}")
            invoice["payments"]["data"].append({"object": "invoice_payment", "payment": {
                "type": "payment_intent", "payment_intent": intent["id"]}, "status": "paid"})
            self._emit("charge.succeeded", charge)
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = self.now()
        self._emit("invoice.paid", invoice)
        self._emit("invoice.payment_succeeded", invoice)
        return True

    def _subscription(self, customer: str, price: dict, metadata: dict, trial_days: int = 0) -> dict:
        start = self.now()
        end = start + (trial_days * 86400 if trial_days else PERIOD)
        sub_id = self._id("sub")
        sub = {
            "id": sub_id, "object": "subscription", "customer": customer, "status": "incomplete",
            "currency": price["currency"], "created": start, "start_date": start, "billing_cycle_anchor": end,
            "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None, "ended_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "trial_start": start if trial_days else None, "trial_end": end if trial_days else None,
            "collection_method": "charge_automatically", "latest_invoice": None, "metadata": metadata,
            "pending_update": None, "livemode": False, "default_payment_method": None,
            "items": {"object": "list", "has_more": False, "total_count": 1,
                      "url": f"/v1/subscription_items?subscription={sub_id}",
                      "data": [{"id": self._id("si"), "object": "subscription_item", "price": copy.deepcopy(price),
                                "quantity": 1, "subscription": sub_id, "created": start, "metadata": {},
                                "current_period_start": start, "current_period_end": end}]},
        }
        self.objects[sub_id] = sub
        return sub

    # --- what the customer and Stripe do (test helpers) ---------------------------------

    def complete_checkout(self, session_id: str, *, trial_days: int = 0) -> dict:
        """The customer pays on the Checkout page. Returns the session afterwards."""
        with self._lock:
            session = self.objects[session_id]
            assert session["status"] == "open", f"session is {session['status']}"
            price = self.objects[session["_price"]]
            customer = session["customer"]
            if session["mode"] == "subscription":
                metadata = dict((session.get("subscription_data") or {}).get("metadata") or {})
                sub = self._subscription(customer, price, metadata, trial_days)
                item = sub["items"]["data"][0]
                amount = 0 if trial_days else price["unit_amount"]
                line = self._line(sub, price, amount, item["current_period_start"], item["current_period_end"],
                                  proration=False, description=f"1 × {price['product']}")
                invoice = self._invoice(sub, "subscription_create", [line])
                paid = self._collect(invoice)
                assert paid, "checkout with a declining card does not complete"
                sub["status"] = "trialing" if trial_days else "active"
                self._emit("customer.subscription.created", sub)
                session.update(subscription=sub["id"], invoice=invoice["id"],
                               payment_status="no_payment_required" if trial_days else "paid")
            else:
                metadata = dict((session.get("payment_intent_data") or {}).get("metadata") or {})
                intent, charge = self._payment(customer, price["unit_amount"], price["currency"], metadata)
                self._emit("charge.succeeded", charge)
                self._emit("payment_intent.succeeded", intent)
                session.update(payment_intent=intent["id"], payment_status="paid")
            session["status"] = "complete"
            if self.objects[customer].get("currency") is None:
                self.objects[customer]["currency"] = price["currency"]
            self._emit("checkout.session.completed", session)
            return session

    def renew(self, sub_id: str, *, pay: bool = True) -> dict | None:
        """The period ends: a subscription set to cancel ends; otherwise the next period starts
        and its invoice is charged (failing if `pay` is False or the card declines).
        Returns the renewal invoice (None when the subscription ended)."""
        with self._lock:
            sub = self.objects[sub_id]
            item = sub["items"]["data"][0]
            previous = {"status": sub["status"], "items": copy.deepcopy(sub["items"])}
            if sub["cancel_at_period_end"]:
                sub.update(status="canceled", ended_at=item["current_period_end"],
                           canceled_at=sub["canceled_at"] or self.now())
                self._emit("customer.subscription.deleted", sub, previous)
                return None
            start = item["current_period_end"]
            item.update(current_period_start=start, current_period_end=start + PERIOD)
            price = item["price"]
            line = self._line(sub, price, price["unit_amount"], start, start + PERIOD, proration=False,
                              description=f"1 × {price['product']}")
            invoice = self._invoice(sub, "subscription_cycle", [line])
            if not pay:
                self.declining.add(sub["customer"])
            paid = self._collect(invoice)
            sub["status"] = "active" if paid else "past_due"
            self._emit("customer.subscription.updated", sub, previous)
            return invoice

    def pay_invoice(self, invoice_id: str) -> dict:
        """A retry (or the customer's new card) pays an open invoice."""
        with self._lock:
            invoice = self.objects[invoice_id]
            sub = self.objects[invoice["parent"]["subscription_details"]["subscription"]]
            self.declining.discard(invoice["customer"])
            assert self._collect(invoice)
            previous = {"status": sub["status"]}
            sub["status"] = "active"
            self._emit("customer.subscription.updated", sub, previous)
            return invoice

    def schedule_cancel(self, sub_id: str, at_period_end: bool = True) -> dict:
        """The customer cancels (or resumes) in the portal: it ends at the period end."""
        with self._lock:
            sub = self.objects[sub_id]
            previous = {"cancel_at_period_end": sub["cancel_at_period_end"]}
            end = sub["items"]["data"][0]["current_period_end"]
            sub.update(cancel_at_period_end=at_period_end, cancel_at=end if at_period_end else None,
                       canceled_at=self.now() if at_period_end else None)
            self._emit("customer.subscription.updated", sub, previous)
            return sub

    def cancel(self, sub_id: str) -> dict:
        """Ended now (e.g. Stripe gave up retrying a failed payment)."""
        with self._lock:
            sub = self.objects[sub_id]
            previous = {"status": sub["status"]}
            sub.update(status="canceled", ended_at=self.now(), canceled_at=sub["canceled_at"] or self.now())
            self._emit("customer.subscription.deleted", sub, previous)
            return sub

    def refund(self, charge_id: str, amount: int | None = None) -> dict:
        """A refund from the dashboard; `amount` defaults to what is left of the charge."""
        with self._lock:
            charge = self.objects[charge_id]
            amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
            previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
            refund = {"id": self._id("re"), "object": "refund", "amount": amount, "charge": charge_id,
                      "payment_intent": charge["payment_intent"], "currency": charge["currency"],
                      "status": "succeeded", "created": self.now()}
            self.objects[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            charge["refunds"]["data"].append(refund)
            self._emit("refund.created", refund)
            self._emit("charge.refunded", charge, previous)
            return charge

    def expire_session(self, session_id: str) -> dict:
        """The customer never paid: the session reaches its expires_at."""
        with self._lock:
            session = self.objects[session_id]
            session["status"] = "expired"
            self._emit("checkout.session.expired", session)
            return session

    def decline_cards(self, customer_id: str) -> None:
        with self._lock:
            self.declining.add(customer_id)

    def charge_of_session(self, session_id: str) -> dict:
        intent = self.objects[self.objects[session_id]["payment_intent"]]
        return self.objects[intent["latest_charge"]]

    # --- Connect (accounts that receive transfers) --------------------------------------

    def _account(self, params: dict) -> dict:
        account = {
            "id": "acct_" + secrets.token_hex(8), "object": "account", "type": params.get("type") or "express",
            "country": params.get("country") or "US", "email": params.get("email") or None,
            "default_currency": "usd", "metadata": params.get("metadata") or {}, "created": self.now(),
            "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
            "capabilities": {name: "inactive" for name in (params.get("capabilities") or {})},
            "requirements": {"currently_due": ["external_account", "tos_acceptance.date"], "disabled_reason":
                             "requirements.past_due", "past_due": ["external_account"], "eventually_due": []},
            "livemode": False,
        }
        self.objects[account["id"]] = account
        return account

    def _account_link(self, params: dict) -> dict:
        account = params.get("account")
        if account not in self.objects or self.objects[account]["object"] != "account":
            raise _missing("account", account, "account")
        for name in ("refresh_url", "return_url", "type"):
            if not params.get(name):
                raise StripeFakeError(400, "invalid_request_error", f"Missing required param: {name}.",
                                      code="parameter_missing", param=name)
        return {"object": "account_link", "created": self.now(), "expires_at": self.now() + 300,
                "url": f"https://connect.stripe.com/setup/e/{account}/{secrets.token_hex(6)}"}

    def _transfer(self, params: dict) -> dict:
        destination = params.get("destination")
        account = self.objects.get(destination)
        if account is None or account["object"] != "account":
            raise _missing("destination", destination, "destination")
        if account["capabilities"].get("transfers") != "active":
            raise StripeFakeError(
                400, "invalid_request_error",
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments", code="insufficient_capabilities_for_transfer",
                param="destination")
        amount = int(params.get("amount") or 0)
        if amount < 1:
            raise StripeFakeError(400, "invalid_request_error", "Invalid positive integer",
                                  code="parameter_invalid_integer", param="amount")
        transfer = {
            "id": self._id("tr"), "object": "transfer", "amount": amount, "amount_reversed": 0,
            "currency": params.get("currency"), "destination": destination,
            "transfer_group": params.get("transfer_group"), "metadata": params.get("metadata") or {},
            "description": params.get("description"), "reversed": False, "created": self.now(), "livemode": False,
        }
        self.objects[transfer["id"]] = transfer
        self._emit("transfer.created", transfer)
        return transfer

    def complete_onboarding(self, account_id: str) -> dict:
        """The creator finishes Stripe's onboarding: the account can receive transfers."""
        with self._lock:
            account = self.objects[account_id]
            previous = {"payouts_enabled": account["payouts_enabled"]}
            account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                           requirements={"currently_due": [], "disabled_reason": None, "past_due": [],
                                         "eventually_due": []})
            account["capabilities"]["transfers"] = "active"
            self._emit("account.updated", account, previous)
            return account

    def transfers(self) -> list[dict]:
        return [o for o in self.objects.values() if o["object"] == "transfer"]

    # --- API operations -----------------------------------------------------------------

    def _update_subscription(self, sub_id: str, params: dict) -> dict:
        sub = self.objects.get(sub_id)
        if sub is None or sub["object"] != "subscription":
            raise _missing("subscription", sub_id)
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise StripeFakeError(400, "invalid_request_error",
                                  "A canceled subscription can only update its cancellation_details and metadata.")
        previous: dict = {}
        item = sub["items"]["data"][0]
        if "cancel_at_period_end" in params:
            flag = params["cancel_at_period_end"] == "true"
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub.update(cancel_at_period_end=flag, cancel_at=item["current_period_end"] if flag else None,
                       canceled_at=(sub["canceled_at"] or self.now()) if flag else None)
        if params.get("metadata"):
            sub["metadata"] = {**sub["metadata"], **params["metadata"]}
        for change in params.get("items") or []:
            if change.get("id") != item["id"]:
                raise _missing("subscription item", change.get("id"), "items[0][id]")
            new_price = self.objects.get(change.get("price"))
            if new_price is None:
                raise _missing("price", change.get("price"), "items[0][price]")
            if new_price["currency"] != sub["currency"]:
                raise StripeFakeError(400, "invalid_request_error",
                                      "The price specified has a different currency than the subscription.")
            old_price = item["price"]
            behaviour = params.get("proration_behavior", "create_prorations")
            if behaviour == "always_invoice":
                end, now = item["current_period_end"], self.now()
                share = max(0.0, min(1.0, (end - now) / max(1, end - item["current_period_start"])))
                lines = [
                    self._line(sub, old_price, -round(old_price["unit_amount"] * share), now, end, proration=True,
                               description=f"Unused time on {old_price['product']}"),
                    self._line(sub, new_price, round(new_price["unit_amount"] * share), now, end, proration=True,
                               description=f"Remaining time on {new_price['product']}"),
                ]
                if params.get("payment_behavior") == "error_if_incomplete" and sub["customer"] in self.declining:
                    raise StripeFakeError(402, "card_error", "Your card was declined.", code="card_declined",
                                          decline_code="generic_decline")
                previous["items"] = copy.deepcopy(sub["items"])
                item["price"] = copy.deepcopy(new_price)
                invoice = self._invoice(sub, "subscription_update", lines)
                self._emit("customer.subscription.updated", sub, previous)
                self._collect(invoice)
                return sub
            previous["items"] = copy.deepcopy(sub["items"])
            item["price"] = copy.deepcopy(new_price)
        self._emit("customer.subscription.updated", sub, previous or None)
        return sub

    def _refund_api(self, params: dict) -> dict:
        charge_id = params.get("charge")
        if not charge_id and params.get("payment_intent"):
            charge_id = self.objects[params["payment_intent"]]["latest_charge"]
        if charge_id not in self.objects:
            raise _missing("charge", charge_id, "charge")
        amount = int(params["amount"]) if params.get("amount") else None
        charge = self.refund(charge_id, amount)
        return charge["refunds"]["data"][-1]

    def handle(self, method: str, path: str, params: dict) -> dict:
        route = path.rstrip("/")
        parts = route.split("/")[2:]  # after /v1
        with self._lock:
            if method == "POST" and parts == ["customers"]:
                return self._customer(params)
            if method == "POST" and parts == ["checkout", "sessions"]:
                return self._checkout_session(params)
            if method == "GET" and parts == ["checkout", "sessions"]:
                data = [s for s in self.objects.values() if s["object"] == "checkout.session"
                        and all(s.get(k) == params[k] for k in ("payment_intent", "customer") if k in params)]
                limit = int(params.get("limit") or 10)
                return {"object": "list", "data": [self._public(s) for s in data[:limit]],
                        "has_more": len(data) > limit, "url": "/v1/checkout/sessions"}
            if method == "POST" and len(parts) == 4 and parts[:2] == ["checkout", "sessions"] and parts[3] == "expire":
                session = self._typed(parts[2], "checkout.session")
                if session["status"] != "open":
                    raise StripeFakeError(400, "invalid_request_error",
                                          f"Only Checkout Sessions with a status in [\"open\"] can be expired. This "
                                          f"Checkout Session has a status of \"{session['status']}\".")
                session["status"] = "expired"
                self._emit("checkout.session.expired", session)
                return session
            if method == "GET" and parts == ["invoice_payments"]:
                # Which invoice a payment paid (a charge names no invoice since API 2025-03-31).
                wanted = (params.get("payment") or {}).get("payment_intent")
                data = [{"id": f"inpay_{inv['id']}", "object": "invoice_payment", "invoice": inv["id"], **pay,
                         "amount_paid": inv["amount_paid"], "currency": inv["currency"]}
                        for inv in self.objects.values() if inv["object"] == "invoice"
                        for pay in inv["payments"]["data"] if pay["payment"].get("payment_intent") == wanted]
                return {"object": "list", "data": data, "has_more": False, "url": "/v1/invoice_payments"}
            if method == "POST" and parts == ["billing_portal", "sessions"]:
                return self._portal_session(params)
            if method == "POST" and parts == ["refunds"]:
                return self._refund_api(params)
            if method == "POST" and parts == ["accounts"]:
                return self._account(params)
            if method == "POST" and parts == ["account_links"]:
                return self._account_link(params)
            if method == "POST" and parts == ["transfers"]:
                return self._transfer(params)
            if len(parts) == 2 and method == "POST" and parts[0] == "subscriptions":
                return self._update_subscription(parts[1], params)
            if len(parts) == 2 and method == "DELETE" and parts[0] == "subscriptions":
                self._typed(parts[1], "subscription")
                return self.cancel(parts[1])
            kinds = {"customers": "customer", "subscriptions": "subscription", "invoices": "invoice",
                     "charges": "charge", "payment_intents": "payment_intent", "prices": "price",
                     "checkout/sessions": "checkout.session", "accounts": "account", "transfers": "transfer"}
            if method == "GET":
                name, oid = "/".join(parts[:-1]), parts[-1] if parts else ""
                if name in kinds:
                    return self._typed(oid, kinds[name])
        raise StripeFakeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _typed(self, oid: str, kind: str) -> dict:
        obj = self.objects.get(oid)
        if obj is None or obj["object"] != kind:
            raise _missing(kind.replace(".", " ").replace("_", " "), oid)
        return obj

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}


def _handler(fake: FakeStripe) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self.read_body().decode()
            pairs = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(raw, keep_blank_values=True)
            params = decode_form(pairs)
            key = self.headers.get("Idempotency-Key")
            recorded = RecordedRequest(method, url.path, params, key)
            with fake._lock:
                fake.requests.append(recorded)
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                body = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}
                return self._reply(recorded, 401, body)
            fingerprint = json.dumps([method, url.path, params], sort_keys=True)
            # One lock around look-up, work and record: copies of a request sent at once end
            # in one object, as with Stripe (which makes the later copies wait or retry).
            with fake._lock:
                seen = fake._idempotency.get(key) if method == "POST" and key else None
                replayed = seen is not None
                if seen is not None and seen[0] != fingerprint:
                    status, body = 400, {"error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same parameters they "
                                   "were first used with."}}
                elif seen is not None:
                    status, body = seen[1], seen[2]
                else:
                    try:
                        status, body = 200, fake._public(copy.deepcopy(fake.handle(method, url.path, params)))
                    except StripeFakeError as exc:
                        status, body = exc.status, exc.body
                    if method == "POST" and key and status < 500:
                        fake._idempotency[key] = (fingerprint, status, body)
            self._reply(recorded, status, body, replayed=replayed and status != 400)

        def _reply(self, recorded: RecordedRequest, status: int, body: dict, replayed: bool = False) -> None:
            recorded.status = status
            headers = {"Request-Id": "req_" + secrets.token_hex(7), "Stripe-Version": API_VERSION}
            if replayed:
                headers["Idempotent-Replayed"] = "true"
            self.send_json(status, body, headers=headers)

    return Handler


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    yield from serve_fake(FakeStripe(), _handler, name="fake-stripe")


@pytest.fixture
def stripe_fake(stripe_server: FakeStripe, settings) -> FakeStripe:
    """Billing switched on and pointed at the fake, with a clean state for the test."""
    stripe_server.reset()
    settings.STRIPE_SECRET_KEY = stripe_server.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_server.webhook_secret
    settings.STRIPE_API_BASE = stripe_server.url
    # A failure should show at once, not after the library's backoff.
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT = 5.0
    return stripe_server
