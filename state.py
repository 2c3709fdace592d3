"""The state vector of spec 4.1 (one per image): its layout, shared by the actor's transition
(agent.py), the replay memory and the config's num_state_dim. Plain numbers: no TensorFlow."""

REWARD_FLAG = 0     # 1 at the final step (the visualization's marker of the finished image)
STOPPED = 1         # 1 once the episode has ended (the step count reached test_steps)
STEP = 2            # filters applied so far: 0 at the start
USAGE = 3           # from here, one flag per filter: 1 once that filter has been used


def state_size(num_filters):
    return USAGE + num_filters
