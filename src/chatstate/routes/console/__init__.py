"""The web console: setup, conversations and a chat box with the bot, on both runtimes."""
