"""rankwise: retrieval tools with LLM reranking for agent frameworks.

The code is layered, one way only, each layer importing only those above it:

- `rankwise.tools.core`: the vocabulary (search modes, strategies, filters, hits),
  settings, errors, documents and chunking. No servers.
- `rankwise.tools.adapters`: the outside world, one error boundary each: model providers
  (Ollama, OpenAI-compatible, any LangChain model) and the Milvus store.
- `rankwise.tools.services`: the knowledge base (ingest, search), the reranker,
  evaluation and health checks.
- applications: `rankwise.tools.agent_tools` (LangChain tools and retriever),
  `rankwise.graphs` (the LangGraph state machine), `rankwise.agents` (CrewAI) and
  `rankwise.cli` (the `rankwise` command).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rankwise")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
