"""What an administrator may do, and the shapes of the admin API that does it."""
