"""Flows: how a person gets in (login, sign-up, the second factor, CloudBase verification
tokens). Every face calls them; they return results (``Completed``, ``NeedsFactor``) that each
face renders."""
