from drf_spectacular.extensions import OpenApiAuthenticationExtension


class DeviceAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "inventory.devices.auth.DeviceAuthentication"
    name = "DeviceSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Device <token>`, from `POST /api/v1/devices/session/` (a nonce signed "
            "with the device's nkey).",
        }
