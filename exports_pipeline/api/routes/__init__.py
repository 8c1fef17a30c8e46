"""The API's routers: export creation and status, local downloads, health."""
