from rest_framework import serializers

from accounts_app.fields import NameField
from accounts_app.models import ApiToken, AuditEvent, Invitation, Membership, Role, Team, TokenScope, slug_validator


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    expires_in_days = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.ADMIN)


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]


class NewTokenSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(help_text="The full token. Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]

    def get_token(self, obj) -> str:
        return self.context["raw_token"]


class NewTokenRequestSerializer(serializers.Serializer):
    """A token for a caller already signed in (session or token): no password asked again."""

    name = NameField(max_length=100, help_text="What the token is for (shown in the token list).")
    expires_in_days = serializers.IntegerField(
        required=False, min_value=0, max_value=3650, help_text="0: never expires; default ECO_TOKEN_DEFAULT_DAYS."
    )
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        default=TokenScope.ADMIN,
        help_text="read: GET only; write: also the writes up to the maintainer role; admin: all your roles allow.",
    )


class MyTeamSerializer(serializers.Serializer):
    slug = serializers.CharField(source="team.slug")
    name = serializers.CharField(source="team.name")
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    is_staff = serializers.BooleanField()
    teams = MyTeamSerializer(many=True)


class TeamSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(max_length=50, validators=[slug_validator])
    name = NameField(max_length=200)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["slug", "name", "created_at", "role"]
        read_only_fields = ["created_at", "role"]

    def get_role(self, obj) -> str | None:
        return getattr(obj, "my_role", None)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]
        read_only_fields = ["created_at"]


class InvitationRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="Who to invite.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitedSerializer(serializers.Serializer):
    detail = serializers.CharField()


class InvitationSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    team_name = serializers.CharField(source="team.name")
    invited_by = serializers.CharField(source="invited_by.username", default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "team", "team_name", "username", "role", "invited_by", "created_at", "expires_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    team = serializers.CharField(source="team.slug", default=None, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor", "team", "action", "target_type", "target_id", "data"]


class SessionLoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=4096)


class SessionSerializer(serializers.Serializer):
    """The browser session: who is signed in (`authenticated` false, `username` null and no teams when nobody)."""

    authenticated = serializers.BooleanField()
    username = serializers.CharField(allow_null=True)
    is_staff = serializers.BooleanField()
    teams = MyTeamSerializer(many=True)
