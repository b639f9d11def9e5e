"""The hospital's WeChat site content (AD3): pages, notices and menus kept in versions, each
reviewed by a second person before it is published; a public read API for what is published."""
