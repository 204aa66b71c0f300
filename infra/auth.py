"""Who may call the API: any OIDC issuer given by context, else a Cognito user pool."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra import compliance
from infra import definitions as d

RESOURCE_SERVER_ID = "intake"


class Auth(Construct):
    """The JWT issuer and audience the HTTP API's authorizer checks.

    With `issuer` and `audience` (e.g. a Keycloak realm) nothing is created. Without them a
    Cognito user pool is: resource server "intake" with scopes read/write (scope strings
    intake/read, intake/write), a hosted domain for the token endpoint and one confidential
    client-credentials app client per tenant. Cognito access tokens carry no custom claims
    without a paid-tier trigger, so with Cognito the tenant is the token's `client_id` (the
    stack's default tenantClaim): each tenant's client is its identity. The pool has no custom
    attributes: nothing would read one, and a deployed custom attribute can never be removed.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        issuer: str | None,
        audience: Sequence[str],
        tenants: Sequence[str] = (),
        cognito_domain_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.user_pool: cognito.UserPool | None = None
        self.clients: dict[str, cognito.UserPoolClient] = {}
        self.domain: cognito.UserPoolDomain | None = None
        if issuer:
            self.issuer = issuer
            self.audience = list(audience)
            return

        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Tenants authenticate as app clients (client credentials); no user signs in. Should
            # an administrator ever add users, they get a strong password and TOTP MFA.
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            removal_policy=RemovalPolicy.RETAIN,
        )
        compliance.acknowledge(
            pool,
            "COG8",
            "The pool issues client-credentials tokens to app clients only (self sign-up off, no "
            "users): the Plus tier's threat protection guards user sign-ins, which never happen.",
        )
        # The routes require "<resource server>/<scope>" strings (definitions.SCOPE_*).
        scopes = []
        for scope_string, description in (
            (d.SCOPE_READ, "Read files, their status and the import types"),
            (d.SCOPE_WRITE, "Declare files and start imports"),
        ):
            server_id, name = scope_string.split("/")
            if server_id != RESOURCE_SERVER_ID:
                raise ValueError(
                    f"scope {scope_string} is not on resource server {RESOURCE_SERVER_ID}"
                )
            scopes.append(
                cognito.ResourceServerScope(scope_name=name, scope_description=description)
            )
        server = pool.add_resource_server(
            "ResourceServer", identifier=RESOURCE_SERVER_ID, scopes=scopes
        )
        domain = pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=cognito_domain_prefix or Fn.join("-", ["intake", Aws.ACCOUNT_ID])
            ),
        )
        for tenant in tenants:
            self.clients[tenant] = pool.add_client(
                f"TenantClient-{tenant}",
                user_pool_client_name=f"intake-tenant-{tenant}",
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[cognito.OAuthScope.resource_server(server, s) for s in scopes],
                ),
                access_token_validity=Duration.hours(1),
                enable_token_revocation=True,
                prevent_user_existence_errors=True,
            )
        self.user_pool = pool
        # The `iss` of Cognito tokens (as aws_apigatewayv2_authorizers.HttpUserPoolAuthorizer).
        self.issuer = (
            f"https://cognito-idp.{Stack.of(self).region}.amazonaws.com/{pool.user_pool_id}"
        )
        # Cognito access tokens carry no `aud`; API Gateway then checks `client_id` instead.
        self.audience = [c.user_pool_client_id for c in self.clients.values()]
        self.domain = domain
