"""Django REST framework's own messages that API answers show most, marked here so they are
extracted into our catalog (config/locale) and translated in every launch language: DRF ships
no catalog for some of them (Hindi), and ours is searched first (LOCALE_PATHS), so the wording
is the same across languages. Never imported; the list is for `makemessages`. A message DRF
words differently in a later version simply stops matching and shows DRF's own translation.
"""

from django.utils.translation import gettext_noop

DRF_MESSAGES = [
    gettext_noop("This field is required."),
    gettext_noop("This field may not be null."),
    gettext_noop("This field may not be blank."),
    gettext_noop("Not a valid string."),
    gettext_noop("A valid integer is required."),
    gettext_noop("Must be a valid boolean."),
    gettext_noop("Enter a valid email address."),
    gettext_noop("Ensure this field has no more than {max_length} characters."),
    gettext_noop("Ensure this field has at least {min_length} characters."),
    gettext_noop("Ensure this value is less than or equal to {max_value}."),
    gettext_noop("Ensure this value is greater than or equal to {min_value}."),
    gettext_noop('"{input}" is not a valid choice.'),
    gettext_noop("Invalid data. Expected a dictionary, but got {datatype}."),
    gettext_noop("Authentication credentials were not provided."),
    gettext_noop('Method "{method}" not allowed.'),
    gettext_noop('Unsupported media type "{media_type}" in request.'),
    gettext_noop("This value does not match the required pattern."),
]
