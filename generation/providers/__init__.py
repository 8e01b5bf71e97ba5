"""Provider registry: one module per provider protocol, looked up by name."""

from __future__ import annotations

from generation.providers.base import Provider, ProviderError


def provider_classes() -> dict[str, type[Provider]]:
    """Every provider class by name; importing them registers their models' capabilities."""
    from generation.providers.animatic import AnimaticProvider
    from generation.providers.dashscope import DashScopeProvider
    from generation.providers.fal import FalProvider
    from generation.providers.replicate import ReplicateProvider
    from generation.providers.runway import RunwayProvider

    classes = (AnimaticProvider, FalProvider, DashScopeProvider, ReplicateProvider, RunwayProvider)
    return {cls.name: cls for cls in classes}


def internal_provider_classes() -> dict[str, type[Provider]]:
    """Providers Greenlight drives itself and never offers to briefs (the cut's join)."""
    from generation.providers.sequence import SequenceProvider

    return {SequenceProvider.name: SequenceProvider}


def provider_names() -> list[tuple[str, str]]:
    """Return (name, label) pairs for every known provider, for forms and admin."""
    return [(name, cls.label) for name, cls in provider_classes().items()]


def get_provider(name: str) -> Provider:
    """Return a provider instance by name; an unknown name is a ProviderError."""
    try:
        return (provider_classes() | internal_provider_classes())[name]()
    except KeyError:
        raise ProviderError(f"unknown provider {name!r}", code="unknown_provider") from None
