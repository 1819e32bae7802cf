"""The service team's console: ticket queue, ticket actions, sites, devices, KPIs, agents."""
