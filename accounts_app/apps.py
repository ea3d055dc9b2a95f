from django.apps import AppConfig


class AccountsAppConfig(AppConfig):
    name = "accounts_app"
    verbose_name = "Accounts"

    def ready(self):
        from accounts_app import schema  # noqa: F401  (registers the OpenAPI security scheme)
