"""Every page and action of the back office, clicked through in chromium, page after page on
alternating API processes (one session cookie, two workers): sign-in refusals, the catalog,
the order lifecycle, a customer's export and erasure, the projections (a dead letter retried,
a rebuild followed live), the reports' charts and the event history; errors shown in words."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_steps import login, register, register_and_login
from tests.data import PASSWORD, auth, order_body, unique_email
from tests.projector_process import copy_event, fix_event
from tests.servers import LedgerStack


class Console:
    """A browser tab on the back office; each `open` goes to the next API process."""

    def __init__(self, page: Any, stack: LedgerStack, screenshots: Path) -> None:
        self.page = page
        self.stack = stack
        self._ports = itertools.cycle(stack.ports)
        self._screenshots = screenshots
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmations say yes

    def open(self, path: str) -> Any:
        answer = self.page.goto(f"http://127.0.0.1:{next(self._ports)}{path}")
        assert answer is not None
        return answer

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self._screenshots / f"{name}.png"), full_page=True)

    def notice(self) -> str:
        return str(self.page.locator(".notice").inner_text())

    def error(self) -> str:
        return str(self.page.locator(".error").inner_text())


@pytest.fixture
def console(
    browser: Any, console_stack: LedgerStack, admin_email: str, screenshots: Path
) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Console(context.new_page(), console_stack, screenshots)
    tab.open("/admin/catalog")  # signed out: sent to sign in, then back here
    tab.page.fill("#email", admin_email)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("button[type=submit]")
    assert tab.page.url.endswith("/admin/catalog?done=signed-in")
    yield tab
    context.close()


@pytest.fixture
def api(console_stack: LedgerStack) -> Iterator[httpx.Client]:
    with console_stack.client() as client:
        yield client


def test_sign_in_refuses_a_wrong_password_and_a_customer(
    browser: Any, console_stack: LedgerStack, admin_email: str, api: httpx.Client, screenshots: Path
) -> None:
    context = browser.new_context()
    tab = Console(context.new_page(), console_stack, screenshots)
    tab.open("/admin/login")
    tab.shot("sign-in")
    tab.page.fill("#email", admin_email)
    tab.page.fill("#password", "not the password")
    tab.page.click("button[type=submit]")
    assert "the password is wrong" in tab.error()
    assert "UNAUTHORIZED" in tab.error()

    customer = unique_email("not-admin")
    register(api, customer)
    tab.open("/admin/login")
    tab.page.fill("#email", customer)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("button[type=submit]")
    assert "for admin accounts only" in tab.error()
    assert tab.open("/admin/orders").url.endswith("/admin/login?next=/admin/orders")
    context.close()


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    # The browser's own cookies, a form another site could send: no token.
    answer = console.page.request.post(
        f"http://127.0.0.1:{console.stack.ports[0]}/admin/catalog/prod_x/discontinue",
        form={"other": "field"},
    )
    assert answer.status == 403
    assert "sent from another site" in answer.text()


def test_the_catalog_creates_edits_prices_stocks_and_discontinues(console: Console) -> None:
    page = console.page
    console.open("/admin/catalog/new")
    page.fill("#name", "Browser Lamp")
    page.fill("#description", "A lamp made in the browser test.")
    page.fill("#price", "19.50")
    page.fill("#category", "lighting")
    page.fill("#tags", "lamp, desk")
    page.fill("#stock", "7")
    console.shot("catalog-new")
    page.click("text=Create product")
    assert console.notice() == "Product created."
    product_url = page.url.partition("?")[0]
    product_id = product_url.rpartition("/")[2]

    console.open(f"/admin/catalog?q={product_id}")
    assert page.locator(f"a[href='/admin/catalog/{product_id}']").inner_text() == "Browser Lamp"
    console.open("/admin/catalog")
    console.shot("catalog")

    console.open(f"/admin/catalog/{product_id}")
    page.fill("#name", "Browser Desk Lamp")
    page.click("text=Save details")
    assert console.notice() == "Product details saved."
    assert "Browser Desk Lamp" in page.locator("h1").inner_text()

    page.fill("#price", "not money")
    page.click("text=Change price")
    assert "Some of what was entered is not valid" in console.error()
    console.open(f"/admin/catalog/{product_id}")
    page.fill("#price", "21.00")
    page.click("text=Change price")
    assert console.notice() == "Price changed."
    assert "21.00" in page.locator("dl.facts").inner_text()

    page.fill("#delta", "-100")
    page.fill("#reason", "shrinkage")
    page.click("text=Record stock change")
    assert "There is not enough stock for this" in console.error()
    console.open(f"/admin/catalog/{product_id}")
    page.fill("#delta", "5")
    page.fill("#reason", "Received purchase order PO-1")
    page.click("text=Record stock change")
    assert console.notice() == "Stock changed."
    assert re.search(r"On hand\s+12", page.locator("dl.facts").inner_text())
    console.shot("product")

    page.click("text=Discontinue product")
    assert console.notice().startswith("Product discontinued")
    assert "discontinued" in page.locator("h1").inner_text()

    console.open(f"/admin/history/{product_id}")
    events = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert events[0] == "ProductDiscontinued"
    assert events[-1] == "ProductCreated"
    console.shot("history")


def _place_order(api: httpx.Client, token: str, product_id: str) -> str:
    answer = api.post("/orders", json=order_body(product_id, 2), headers=auth(token))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def _new_product(console: Console, name: str) -> str:
    page = console.page
    console.open("/admin/catalog/new")
    page.fill("#name", name)
    page.fill("#price", "10.00")
    page.fill("#category", "tests")
    page.fill("#stock", "50")
    page.click("text=Create product")
    return str(page.url.partition("?")[0].rpartition("/")[2])


def test_orders_are_found_and_taken_through_every_step(console: Console, api: httpx.Client) -> None:
    page = console.page
    product_id = _new_product(console, "Order Test Kettle")
    customer_id, token = register_and_login(api, "orders-browser")
    shipped = _place_order(api, token, product_id)
    cancelled = _place_order(api, token, product_id)

    console.open(f"/admin/orders?status=pending&customer={customer_id}")
    listed = page.locator("tbody td:first-child a").all_inner_texts()
    assert set(listed) == {shipped, cancelled}
    console.shot("orders")

    console.open(f"/admin/orders/{shipped}")
    page.fill("#confirm-payment_intent_id", "pi_browser_1")
    page.click("form[action$='/confirm'] button")
    assert console.notice() == "Order confirmed."
    page.click("form[action$='/process'] button")
    assert console.notice() == "Order processing started."
    page.fill("#ship-carrier", "UPS")
    page.fill("#ship-tracking_number", "1Z999")
    page.click("form[action$='/ship'] button")
    assert console.notice() == "Order shipped."
    page.click("form[action$='/deliver'] button")
    assert console.notice() == "Order delivered."
    console.shot("order")
    page.fill("#refund-reason", "arrived broken")
    page.click("form[action$='/refund'] button")
    assert console.notice() == "Order refunded."
    history = page.locator("table").nth(1).locator("tbody tr td:first-child").all_inner_texts()
    assert history == ["pending", "confirmed", "processing", "shipped", "delivered", "refunded"]
    assert "No step is left" in page.inner_text("main")

    console.open(f"/admin/orders/{cancelled}")
    page.fill("#cancel-reason", "asked by phone")
    page.click("form[action$='/cancel'] button")
    assert console.notice() == "Order cancelled; its stock was released."
    console.open(f"/admin/orders?status=cancelled&customer={customer_id}")
    assert page.locator("tbody td:first-child a").all_inner_texts() == [cancelled]


def test_a_customer_is_found_exported_and_erased(console: Console, api: httpx.Client) -> None:
    page = console.page
    email = unique_email("erase-browser")
    customer_id = register(api, email, name="Grace Browser")
    token = str(login(api, email)["access_token"])
    product_id = _new_product(console, "Erasure Test Mug")
    order_id = _place_order(api, token, product_id)

    console.open(f"/admin/customers?q={email}")
    page.click("text=Grace Browser")
    assert customer_id in page.inner_text("main")
    assert order_id in page.inner_text("main")
    console.shot("customer")
    with page.expect_download() as download:
        page.click("text=Download everything held about them (JSON)")
    document = json.loads(Path(download.value.path()).read_text())
    assert document["user"]["email"] == email
    assert [o["id"] for o in document["orders"]] == [order_id]

    page.fill("#confirm", "erase")
    page.click("text=Erase customer")
    assert "type ERASE to confirm" in console.error()
    console.open(f"/admin/customers/{customer_id}")
    page.fill("#confirm", "ERASE")
    page.click("text=Erase customer")
    assert console.notice().startswith("The customer was erased")
    assert "Grace Browser" not in page.inner_text("main")
    assert email not in page.inner_text("main")
    console.open(f"/admin/history/{customer_id}")
    assert "Grace Browser" not in page.inner_text("main")
    assert "UserErased" in page.inner_text("main")


def test_projections_show_leases_retry_dead_letters_and_rebuild_live(
    console: Console, console_stack: LedgerStack
) -> None:
    page = console.page
    product_id = _new_product(console, "Poison Source")
    url = console_stack.database_url
    # A copy of its creation without a name: the products projection cannot apply it.
    poison = copy_event(url, (product_id, 1), (f"{product_id}_copy", 1), drop=("name",))
    console.open("/admin/projections/products")
    page.wait_for_function(
        "() => document.querySelector('[data-field=dead_letters]').textContent.trim() === '1'",
        timeout=30_000,
    )
    console.open("/admin/projections/products")
    assert "Retry every parked event" in page.inner_text("main")
    assert "ProductCreated" in page.inner_text("main")
    console.shot("projection")

    fix_event(url, poison, {"name": "Poison Fixed"})
    page.click("text=Retry every parked event")
    assert console.notice().startswith("The parked events were applied again")
    assert "No event is parked." in page.inner_text("main")

    console.open("/admin/projections")
    names = page.locator("tbody tr td:first-child").all_inner_texts()
    assert {"products", "orders", "users", "inventory", "sales", "history"} <= set(names)
    leases = page.locator("[data-field=lease]").all_inner_texts()
    assert all(lease != "none" for lease in leases)
    console.shot("projections")

    console.open("/admin/projections/products")
    page.click("text=Rebuild products")
    assert console.notice() == "Rebuild started."
    # The page follows the rebuild by itself, until the product is back in the swapped tables.
    page.wait_for_function(
        "() => document.querySelector('[data-field=rebuild]').textContent.includes('none running')"
        " && document.querySelector('[data-field=state]').textContent.trim() !== 'rebuilding'",
        timeout=60_000,
    )
    console.open(f"/admin/catalog/{product_id}_copy")
    assert "Poison Fixed" in page.locator("h1").inner_text()


def test_reports_draw_their_charts(console: Console, api: httpx.Client) -> None:
    page = console.page
    product_id = _new_product(console, "Report Test Lamp")
    _, token = register_and_login(api, "reports-browser")
    order_id = _place_order(api, token, product_id)
    console.open(f"/admin/orders/{order_id}")
    page.fill("#confirm-payment_intent_id", "pi_reports")
    page.click("form[action$='/confirm'] button")

    console.open("/admin/reports")
    for section in ("sales", "top-products", "orders-by-status", "inventory"):
        assert page.locator(f"#{section} svg rect").count() > 0, section
    assert "Report Test Lamp" in page.inner_text("#top-products")
    assert "built-in method" not in page.inner_text("main")  # a row's "items", not dict.items
    console.shot("reports")
    console.open("/admin/reports?from=2026-02-01&to=2026-01-01")
    assert "the first day is after the last" in console.error()


def test_errors_are_pages_in_words(console: Console) -> None:
    console.open("/admin/orders/ord_nothere")
    assert "There is no such record" in console.error()
    assert "NOT_FOUND" in console.error()
    console.open("/admin/catalog?after=garbage")
    assert "the page link is damaged" in console.error()
    console.open("/admin/history")
    console.page.fill("#id", "prod_none")
    console.page.click("text=Show history")
    assert "No event of prod_none" in console.page.inner_text("main")
    console.page.click("text=Sign out")
    assert console.page.url.endswith("/admin/login")
