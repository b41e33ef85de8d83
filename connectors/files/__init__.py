"""File sources: maildir, mbox, .eml folders and .ics calendars."""
