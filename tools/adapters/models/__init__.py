"""Models by name (`provider:model`, Ollama when bare) or as LangChain objects, each
behind its provider's error boundary. Provider packages are imported only when used."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from ...core.errors import InvalidArgumentError, ProviderNotInstalledError, RankwiseError
from ...core.roles import EmbeddingRoles
from ...core.settings import ModelRef, Settings
from .boundary import Provider
from .guarded import EmbeddingIdentity, GuardedChatModel, GuardedEmbeddings
from .ollama import OllamaProvider, client_kwargs
from .openai import OpenAIProvider
from .prompts import default_prefixes
from .tokens import token_counter

__all__ = ["EmbeddingIdentity", "GuardedChatModel", "GuardedEmbeddings", "Provider",
           "chat_model", "embeddings"]

def embeddings(settings: Settings, model: Embeddings | None = None) -> GuardedEmbeddings:
    """The embedding model: `model` when given, else the one `settings.embed_model` names."""
    if isinstance(model, GuardedEmbeddings):
        return model
    inner = model if model is not None else _create(settings.embed, settings, chat=False)
    roles = settings.embedding_roles
    documents, queries = ((inner, inner) if roles.how in ("text", "none") else
                          (_for_role(inner, roles, "document"), _for_role(inner, roles, "query")))
    provider = _provider_of(documents, settings)
    query, document = default_prefixes(provider.model) if roles.in_text else ("", "")
    identity = EmbeddingIdentity(
        provider=_provider_label(documents, provider), model=provider.model,
        query_prefix=query if settings.query_prefix is None else settings.query_prefix,
        document_prefix=document if settings.document_prefix is None
        else settings.document_prefix, roles=str(roles))
    count_tokens, exact = token_counter(settings.embed_tokenizer)
    return GuardedEmbeddings(documents, provider, identity, settings.retry_attempts,
                             count_tokens=count_tokens, exact_tokens=exact,
                             window=settings.embed_context, query_inner=queries)


def _for_role(model: Embeddings, roles: EmbeddingRoles,
              role: Literal["query", "document"]) -> Embeddings:
    """A copy of `model` whose requests tell the server `role` the way `roles` says: by
    the model's name, or by a field of the request's JSON (OpenAI-compatible clients)."""
    fields = getattr(type(model), "model_fields", {})
    value = roles.value(role)
    if roles.how == "model" and "model" in fields:
        return model.model_copy(update={"model": value})  # type: ignore[attr-defined]
    if roles.how == "field" and "model_kwargs" in fields:
        kwargs = dict(model.model_kwargs)  # type: ignore[attr-defined]
        kwargs["extra_body"] = {**kwargs.get("extra_body", {}), roles.field: value}
        return model.model_copy(update={"model_kwargs": kwargs})  # type: ignore[attr-defined]
    how = "a request field" if roles.how == "field" else "the model's name"
    raise InvalidArgumentError(
        f"RANKWISE_EMBED_ROLES={roles} names the role by {how}, which "
        f"{type(model).__name__} cannot send: use an OpenAI-compatible server "
        "(RANKWISE_EMBED_MODEL=openai:NAME, RANKWISE_BASE_URL), or RANKWISE_EMBED_ROLES=text")


def chat_model(settings: Settings, model: BaseChatModel | None = None) -> GuardedChatModel:
    """The chat model: `model` when given, else the one `settings.chat_model` names."""
    if isinstance(model, GuardedChatModel):
        return model
    inner = model if model is not None else _create(settings.chat, settings, chat=True)
    return GuardedChatModel(inner=inner, provider=_provider_of(inner, settings),
                            attempts=settings.retry_attempts)


def _create(ref: ModelRef, settings: Settings, *, chat: bool) -> Any:
    """The LangChain model `ref` names; a client that refuses its options is one line."""
    try:
        return _build(ref, settings, chat=chat)
    except RankwiseError:
        raise
    except Exception as exc:  # each SDK validates its options with its own errors
        raise InvalidArgumentError(
            f"cannot set up the {'chat' if chat else 'embedding'} model {ref}: "
            f"{' '.join(str(exc).split())}") from exc


def _build(ref: ModelRef, settings: Settings, *, chat: bool) -> Any:
    timeout = settings.request_timeout
    if ref.is_ollama:
        from langchain_ollama import ChatOllama, OllamaEmbeddings  # deferred: ~0.5 s

        local: dict[str, Any] = {"model": ref.name, "base_url": settings.ollama_host,
                                 "client_kwargs": client_kwargs(timeout)}
        if chat:
            return ChatOllama(**local, num_ctx=settings.chat_num_ctx, temperature=0)
        return OllamaEmbeddings(**local)
    base_url = settings.served_at(chat=chat)
    if ref.provider == "openai":
        module = _import("langchain_openai", "openai")
        key = settings.openai_key(chat=chat)
        if key is None:
            raise InvalidArgumentError(
                f"{ref} needs an API key: set RANKWISE_API_KEY or OPENAI_API_KEY (for an "
                "OpenAI-compatible server that wants none, set RANKWISE_BASE_URL)")
        common: dict[str, Any] = {"model": ref.name, "base_url": base_url,
                                  "api_key": key, "timeout": timeout,
                                  "max_retries": 0}  # rankwise retries, with backoff
        if chat:
            return module.ChatOpenAI(**common, temperature=0)
        # Token-id input (the default) is OpenAI's own; compatible servers want text.
        return module.OpenAIEmbeddings(**common,
                                       check_embedding_ctx_length=base_url is None)
    return _init_any(ref, settings, base_url, chat=chat)


def _init_any(ref: ModelRef, settings: Settings, base_url: str | None, *, chat: bool) -> Any:
    """Other providers through LangChain's own `init_chat_model` / `init_embeddings`."""
    extra: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if settings.api_key:
        extra["api_key"] = settings.api_key.get_secret_value()
    if chat:
        factory = _import("langchain.chat_models", ref.provider).init_chat_model
        return factory(ref.name, model_provider=ref.provider, temperature=0, **extra)
    factory = _import("langchain.embeddings", ref.provider).init_embeddings
    return factory(ref.name, provider=ref.provider, **extra)


def _import(module: str, provider: str) -> Any:
    try:
        return import_module(module)
    except ImportError:
        package = "langchain-openai" if provider == "openai" else f"langchain langchain-{provider}"
        raise ProviderNotInstalledError(
            f"models of provider {provider!r} need LangChain's package for it: "
            f"pip install {package}") from None


def _provider_of(model: Any, settings: Settings) -> Provider:
    """The error boundary and features that fit `model`'s provider."""
    module = type(model).__module__
    name = str(next((getattr(model, a) for a in ("model", "model_name", "deployment")
                     if isinstance(getattr(model, a, None), str)), type(model).__name__))
    if module.startswith("langchain_ollama"):
        return OllamaProvider(name, getattr(model, "base_url", None) or settings.ollama_host,
                              settings.request_timeout, settings.retry_attempts)
    if module.startswith("langchain_openai"):
        where = getattr(model, "openai_api_base", None) or "api.openai.com"
        return OpenAIProvider(name, where)
    return Provider(name)


def _provider_label(model: Any, provider: Provider) -> str:
    return provider.name if provider.name != "generic" else type(model).__name__
