"""IdP emulators: ASGI apps that behave like the real identity providers, for tests and benchmarks.

They share no code with the connectors (nothing from ``idpsync.sources``, ``http``, ``auth``,
``engine`` or ``store`` is imported here). See ``docs/emulators.md``.
"""

from idpsync.emulators.framework import Emulator, RecordedRequest, RequestLog, RunningServer
from idpsync.emulators.generate import TenantSpec, generate_tenant
from idpsync.emulators.injection import Fault, Latency, TokenBucket
from idpsync.emulators.tenant import GroundTruth, Tenant, TenantGroup, TenantObject, TenantUser

__all__ = [
    "Emulator",
    "Fault",
    "GroundTruth",
    "Latency",
    "RecordedRequest",
    "RequestLog",
    "RunningServer",
    "Tenant",
    "TenantGroup",
    "TenantObject",
    "TenantSpec",
    "TenantUser",
    "TokenBucket",
    "generate_tenant",
]
