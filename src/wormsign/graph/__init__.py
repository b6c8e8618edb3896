"""Graph work of the hunt: infection trees and outbreak incidents (networkx)."""
