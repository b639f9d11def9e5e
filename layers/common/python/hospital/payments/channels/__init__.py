"""Payment channels: one interface (base.PaymentChannel), one module per channel, and the one
registry that picks a channel for an order or a new payment (registry)."""
