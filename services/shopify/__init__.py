"""Shopify adapters: they speak Shopify (GraphQL, webhooks, CSV) and hand back plain records."""
