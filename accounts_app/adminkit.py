"""What the apps' admin modules share: the admin writes only through services, and immutable records are
shown read-only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from accounts_app.names import named
from ml import names
from ml.errors import UserError


class ReadOnlyMixin:
    """For a ModelAdmin or an inline of immutable records (versions, lineage, evaluations, predictions): they are
    viewed here and never added, changed or deleted; services and jobs write them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TeamNameForm(forms.ModelForm):
    """A form for a model with `team` and `name`: the name follows `ml.names` (printable, NFC) and is unique in its
    team without regard to case, checked here so that the service called by `save_model` does not refuse it."""

    noun = "record"

    def clean(self):
        data = super().clean()
        name = data.get("name")
        if not isinstance(name, str) or names.problem(name):
            return data  # the field's validator reports it
        data["name"] = name = names.nfc(name)
        team = data.get("team") or (self.instance.team if self.instance.team_id else None)
        if team is not None:
            others = named(type(self.instance).objects.filter(team=team), name)
            if not self.instance._state.adding:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error(
                    "name", f"Team '{team.slug}' already has a {self.noun} named '{name}' (names ignore case)."
                )
        return data


class RefusalsAsMessagesMixin:
    """A service's refusal while the admin saves or deletes one record (the last admin of a team, a data set a
    model was trained on) comes back as an error message on the same page, not a server error; the
    transaction Django wraps around the view has rolled back."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (UserError, ValidationError) as exc:
            report_refusal(self, request, None, exc)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (UserError, ValidationError) as exc:
            report_refusal(self, request, None, exc)
            return HttpResponseRedirect(request.get_full_path())


class ServiceWriteMixin(RefusalsAsMessagesMixin):
    """For the ModelAdmin of a team's named record (a dataset, a model): adds, edits and deletes go through the
    app's services, with the admin user as the actor, so they are checked and audited like API writes.

    Set `create_service(*, actor, team, name, ...)`, `update_service(*, actor, <noun>=obj, **changed)`,
    `delete_service(*, actor, <noun>=obj)`, `service_noun` (the keyword naming the record), `create_fields` (the
    form fields handed to `create_service` beside the team) and `editable_fields` (those `update_service`
    takes). A refused bulk delete is reported per record and the others go on."""

    create_service = update_service = delete_service = None
    service_noun = "record"
    create_fields: tuple[str, ...] = ()
    editable_fields: frozenset[str] = frozenset()

    def save_model(self, request, obj, form, change):
        if change:
            changes = {f: form.cleaned_data[f] for f in form.changed_data if f in self.editable_fields}
            saved = self.update_service(actor=request.user, **{self.service_noun: obj}, **changes)
        else:
            values = {f: getattr(obj, f) for f in self.create_fields}
            saved = self.create_service(actor=request.user, team=obj.team, **values)
        copy_saved(saved, obj)

    def delete_model(self, request, obj):
        self.delete_service(actor=request.user, **{self.service_noun: obj})

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_service(actor=request.user, **{self.service_noun: obj})
            except (UserError, ValidationError) as exc:
                report_refusal(self, request, obj, exc)


def copy_saved(saved, obj) -> None:
    """Make the admin's instance `obj` the row a service saved (the admin goes on to log and redirect with it)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def report_refusal(modeladmin: admin.ModelAdmin, request, obj, exc: Exception) -> None:
    """Show a service's refusal (a UserError or ValidationError) as an admin error message."""
    text = str(exc) if isinstance(exc, UserError) else "; ".join(getattr(exc, "messages", [str(exc)]))
    modeladmin.message_user(request, f"{obj}: {text}" if obj is not None else text, level=messages.ERROR)
