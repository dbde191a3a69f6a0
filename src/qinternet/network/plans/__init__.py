"""Planning files shipped with qinternet (``qinternet plan NAME``)."""
