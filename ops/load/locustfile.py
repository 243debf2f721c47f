from locust import HttpUser, task, between
import random

class EcommerceUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        """Register and login before starting tasks."""
        # Register
        email = f"loadtest{random.randint(1, 100000)}@test.com"
        response = self.client.post("/api/v1/auth/register", json={
            "name": "Load Test User",
            "email": email,
            "password": "SecurePass123!@#"
        })

        # Login
        response = self.client.post("/api/v1/auth/login", json={
            "email": email,
            "password": "SecurePass123!@#"
        })

        data = response.json()
        self.token = data["data"]["access_token"]

    @task(3)
    def view_products(self):
        """View product list."""
        self.client.get("/api/v1/products/")

    @task(2)
    def view_product_detail(self):
        """View single product."""
        self.client.get("/api/v1/products/prod_1")

    @task(1)
    def create_order(self):
        """Create an order."""
        self.client.post(
            "/api/v1/orders/",
            json={
                "items": [
                    {"product_id": "prod_1", "quantity": 2, "price": 29.99}
                ],
                "shipping_address": {
                    "full_name": "Test User",
                    "address_line1": "123 Test St",
                    "city": "Test City",
                    "state": "TS",
                    "postal_code": "12345",
                    "country": "US"
                },
                "payment_method": "stripe"
            },
            headers={"Authorization": f"Bearer {self.token}"}
        )
