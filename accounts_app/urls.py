from django.urls import path

from accounts_app import api

urlpatterns = [
    path("auth/token/", api.TokenCreateApi.as_view(), name="auth-token"),
    path("auth/session/", api.SessionApi.as_view(), name="auth-session"),
    path("auth/tokens/", api.TokenListApi.as_view(), name="auth-tokens"),
    path("auth/tokens/<int:pk>/", api.TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("teams/", api.TeamListCreateApi.as_view(), name="teams"),
    path("teams/<slug:slug>/", api.TeamDetailApi.as_view(), name="team-detail"),
    path("teams/<slug:slug>/members/", api.MemberListCreateApi.as_view(), name="team-members"),
    path("teams/<slug:slug>/members/<str:username>/", api.MemberDetailApi.as_view(), name="team-member"),
    path("teams/<slug:slug>/invitations/", api.TeamInvitationListApi.as_view(), name="team-invitations"),
    path("teams/<slug:slug>/invitations/<uuid:pk>/", api.TeamInvitationRevokeApi.as_view(), name="team-invitation"),
    path("invitations/", api.MyInvitationListApi.as_view(), name="invitations"),
    path("invitations/<uuid:pk>/accept/", api.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("invitations/<uuid:pk>/decline/", api.InvitationDeclineApi.as_view(), name="invitation-decline"),
    path("audit-events/", api.AuditEventListApi.as_view(), name="audit-events"),
]
