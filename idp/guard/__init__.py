"""Who may try a secret now: the brute-force policy (failure counts, captcha, temporary lock)
and the image captchas it asks for. Below the accounts and the OTP service, which both ask it."""
