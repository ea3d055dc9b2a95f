from django.contrib.auth import authenticate
from django.db.models import OuterRef, Subquery
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts_app import selectors, services
from accounts_app.authentication import enforce_csrf
from accounts_app.filters import AuditEventFilter
from accounts_app.models import ApiToken, AuditEvent, Invitation, Membership, Role, Team, TokenScope
from accounts_app.serializers import (
    AuditEventSerializer,
    InvitationRequestSerializer,
    InvitationSerializer,
    InvitedSerializer,
    MembershipSerializer,
    MeSerializer,
    NewTokenRequestSerializer,
    NewTokenSerializer,
    RoleSerializer,
    SessionLoginSerializer,
    SessionSerializer,
    TeamSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from accounts_app.throttling import LoginRateThrottle


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token (shown once)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=TokenRequestSerializer, responses={201: NewTokenSerializer})
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        token, raw = services.issue_token(
            user=user,
            name=data.validated_data["name"],
            expires_in_days=data.validated_data.get("expires_in_days"),
            scope=data.validated_data["scope"],
        )
        return Response(NewTokenSerializer(token, context={"raw_token": raw}).data, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request):
        return "Bearer"


class TokenListApi(generics.ListCreateAPIView):
    """Your API tokens (prefix only). POST `{name, expires_in_days?}` makes one for the signed-in caller
    (session or token) without asking for the password again: 201 with the full token, shown this once."""

    serializer_class = TokenSerializer
    required_scope = TokenScope.ADMIN  # a token makes another only with the admin scope

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ApiToken.objects.none()
        return selectors.tokens_of_user(user=self.request.user)

    @extend_schema(request=NewTokenRequestSerializer, responses={201: NewTokenSerializer})
    def post(self, request, *args, **kwargs):
        data = NewTokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.issue_token(
            user=request.user,
            name=data.validated_data["name"],
            expires_in_days=data.validated_data.get("expires_in_days"),
            scope=data.validated_data["scope"],
        )
        return Response(NewTokenSerializer(token, context={"raw_token": raw}).data, status=status.HTTP_201_CREATED)


class TokenRevokeApi(generics.DestroyAPIView):
    """Revoke one of your tokens."""

    serializer_class = TokenSerializer

    def get_queryset(self):
        return selectors.tokens_of_user(user=self.request.user)

    def perform_destroy(self, instance):
        services.revoke_token(actor=self.request.user, token=instance)


def _session_body(user) -> dict:
    signed_in = user is not None and user.is_authenticated
    return SessionSerializer(
        {
            "authenticated": signed_in,
            "username": user.username if signed_in else None,
            "is_staff": bool(signed_in and user.is_staff),
            "teams": selectors.memberships_of_user(user=user) if signed_in else [],
        }
    ).data


class SessionApi(APIView):
    """The browser's session (the dashboard signs in here; automation uses Bearer tokens).

    GET: who the session belongs to, and the `csrftoken` cookie the other methods need. POST `{username,
    password}` signs in and DELETE signs out; both need the `X-CSRFToken` header to match the `csrftoken`
    cookie, signed in or not (403 otherwise). Signing in gives the session a new key and the CSRF cookie a
    new value, so read the cookie again afterwards. A wrong username or password is a 400 that does not say
    which; sign-in attempts share the `login` throttle with POST auth/token/. Only the session counts here:
    a Bearer token is not a session."""

    permission_classes = [AllowAny]
    authentication_classes = [SessionAuthentication]
    throttle_scope = "login"

    def get_throttles(self):
        return [LoginRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=SessionSerializer)
    def get(self, request):
        get_token(request._request)  # what ensure_csrf_cookie does: the response sets the cookie
        return Response(_session_body(request.user))

    @extend_schema(request=SessionLoginSerializer, responses=SessionSerializer)
    def post(self, request):
        enforce_csrf(request)
        data = SessionLoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if user is None:  # unknown user, wrong password and inactive user alike
            raise serializers.ValidationError("Invalid username or password.")
        services.sign_in(request=request._request, user=user)
        return Response(_session_body(user))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        enforce_csrf(request)
        services.sign_out(request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        user = request.user
        payload = {
            "username": user.username,
            "email": user.email,
            "is_staff": user.is_staff,
            "teams": selectors.memberships_of_user(user=user),
        }
        return Response(MeSerializer(payload).data)


class TeamListCreateApi(generics.ListCreateAPIView):
    """Teams you belong to; creating one makes you its admin."""

    serializer_class = TeamSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Team.objects.none()
        role = Membership.objects.filter(team=OuterRef("pk"), user=self.request.user).values("role")[:1]
        return selectors.teams_for_user(self.request.user).annotate(my_role=Subquery(role))

    def create(self, request, *args, **kwargs):
        data = TeamSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.create_team(actor=request.user, **data.validated_data)
        team.my_role = Role.ADMIN
        return Response(TeamSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailApi(generics.RetrieveAPIView):
    serializer_class = TeamSerializer
    lookup_field = "slug"

    def get_object(self):
        team = selectors.team_for_user(user=self.request.user, slug=self.kwargs["slug"])
        team.my_role = selectors.role_of(user=self.request.user, team=team)
        return team


class MemberListCreateApi(generics.ListCreateAPIView):
    """Members of a team. POST `{username, role}` (admin role) invites: 202 whether the name belongs to a user,
    a member already or nobody (the answer reveals nothing); the user joins by accepting the invitation
    (POST /invitations/{id}/accept/). Pending invitations: GET /teams/{slug}/invitations/."""

    serializer_class = MembershipSerializer
    required_roles = {"POST": Role.ADMIN}
    team_from = "path"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Membership.objects.none()
        team = selectors.team_for_user(user=self.request.user, slug=self.kwargs["slug"])
        return selectors.memberships_of_team(team=team)

    @extend_schema(request=InvitationRequestSerializer, responses={202: InvitedSerializer})
    def post(self, request, *args, **kwargs):
        team = selectors.team_for_user(user=request.user, slug=self.kwargs["slug"])
        data = InvitationRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"].strip()
        services.invite_member(actor=request.user, team=team, username=username, role=data.validated_data["role"])
        detail = (
            f"If '{username}' is a user who is not yet a member of '{team.slug}', they have been invited as "
            f"{data.validated_data['role']}; they join when they accept."
        )
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class TeamInvitationListApi(generics.ListAPIView):
    """A team's pending invitations (admin role)."""

    serializer_class = InvitationSerializer
    required_roles = {"GET": Role.ADMIN, "HEAD": Role.ADMIN}
    team_from = "path"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Invitation.objects.none()
        team = selectors.team_for_user(user=self.request.user, slug=self.kwargs["slug"])
        return selectors.invitations_of_team(team=team)


class TeamInvitationRevokeApi(APIView):
    """Withdraw a pending invitation (admin role): 204."""

    required_roles = {"DELETE": Role.ADMIN}
    team_from = "path"

    @extend_schema(responses={204: None})
    def delete(self, request, slug, pk):
        team = selectors.team_for_user(user=request.user, slug=slug)
        invitation = get_object_or_404(selectors.invitations_of_team(team=team), pk=pk)
        services.revoke_invitation(actor=request.user, invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationListApi(generics.ListAPIView):
    """Your pending invitations to teams."""

    serializer_class = InvitationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Invitation.objects.none()
        return selectors.invitations_for_user(user=self.request.user)


class InvitationAcceptApi(APIView):
    """Accept one of your invitations: 201 with the membership; 404 for one that is not yours or has ended,
    409 when you are a member already."""

    @extend_schema(request=None, responses={201: MembershipSerializer})
    def post(self, request, pk):
        invitation = get_object_or_404(selectors.invitations_for_user(user=request.user), pk=pk)
        membership = services.accept_invitation(actor=request.user, invitation=invitation)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class InvitationDeclineApi(APIView):
    """Decline one of your invitations: 204."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request, pk):
        invitation = get_object_or_404(selectors.invitations_for_user(user=request.user), pk=pk)
        services.decline_invitation(actor=request.user, invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberDetailApi(generics.RetrieveUpdateDestroyAPIView):
    """One member: change the role (PATCH) or remove them (DELETE); both need the admin role."""

    serializer_class = MembershipSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    required_roles = {"PATCH": Role.ADMIN, "DELETE": Role.ADMIN}

    def get_object(self):
        team = selectors.team_for_user(user=self.request.user, slug=self.kwargs["slug"])
        membership = get_object_or_404(selectors.memberships_of_team(team=team), user__username=self.kwargs["username"])
        self.check_object_permissions(self.request, membership)
        return membership

    @extend_schema(request=RoleSerializer, responses=MembershipSerializer)
    def patch(self, request, *args, **kwargs):
        membership = self.get_object()
        data = RoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.change_member_role(
            actor=request.user, membership=membership, role=data.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    def perform_destroy(self, instance):
        services.remove_member(actor=self.request.user, membership=instance)


class AuditEventListApi(generics.ListAPIView):
    """Audit trail of the teams you maintain or administer, newest first. Filter with
    ?team=&action=&action__startswith=&actor=<username>&since=&until= (ISO 8601 times, inclusive)."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        return selectors.audit_events_for_user(user=self.request.user)
