print("roles: not built yet")
