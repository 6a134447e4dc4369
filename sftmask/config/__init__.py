"""The typed build configuration and the options every data kind shares."""
