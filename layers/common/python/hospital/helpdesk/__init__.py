"""Usage guidance for the back office (AS2): feedback tickets the front desk files and IT
works to closed, and the FAQ finance and the front desk keep, searched in Chinese."""
