print("authn: not built yet")
