"""Browser flows (login, and later MFA): they return results, each face renders them."""
